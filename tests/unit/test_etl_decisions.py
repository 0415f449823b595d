"""The ETL job's decisions without Spark or AWS: history rescans, archiving steps, metrics."""

from __future__ import annotations

import pytest

from music_streaming import etl_decisions
from music_streaming import ledger as file_ledger

BATCH = "batch-2"


def item(key: str, batch: str, dataset: str = "streams", state: str = file_ledger.PROCESSED):
    return {"key": key, "batch_id": batch, "dataset": dataset, "state": state}


def test_a_key_processed_by_another_batch_is_a_correction():
    processed = [
        item("streams/a.csv", "batch-1"),
        item("streams/b.csv", BATCH),
        item("streams/c.csv", "batch-1"),
    ]
    keys = ["streams/a.csv", "streams/b.csv", "streams/new.csv"]
    assert etl_decisions.corrected_keys(BATCH, processed, keys) == ["streams/a.csv"]


def test_the_batchs_own_rows_are_never_a_correction():
    processed = [item("streams/a.csv", BATCH)]
    assert etl_decisions.corrected_keys(BATCH, processed, ["streams/a.csv"]) == []


def indexed(key: str, batch: str, days: list[str], dataset: str = "streams") -> dict:
    return {
        **item(key, batch, dataset),
        etl_decisions.LISTEN_DATES: days,
        etl_decisions.PROCESSED_TO: f"s3://processed/processed_data/date=d/batch_id={batch}/",
    }


HISTORY = [
    indexed("streams/day1.csv", "batch-1", ["2024-06-01"]),
    indexed("streams/day2.csv", "batch-2", ["2024-06-01", "2024-06-02"]),  # a late event
    indexed("streams/day3.csv", "batch-3", ["2024-06-03"]),
    indexed("streams/empty.csv", "batch-4", []),  # every row rejected
    {**item("songs/s.csv", "batch-1", "songs"), etl_decisions.PROCESSED_TO: "s3://p/reference/"},
]


def test_a_day_is_read_only_from_the_batch_paths_that_hold_it():
    paths = etl_decisions.paths_holding(HISTORY, ["2024-06-01"])
    assert [p.split("batch_id=")[1] for p in paths] == ["batch-1/", "batch-2/"]
    assert etl_decisions.paths_holding(HISTORY, ["2024-06-03", "2024-06-02"]) == [
        HISTORY[1][etl_decisions.PROCESSED_TO],
        HISTORY[2][etl_decisions.PROCESSED_TO],
    ]
    assert etl_decisions.paths_holding(HISTORY, ["2024-05-31"]) == []


def test_a_correction_recomputes_the_days_of_every_earlier_version():
    versions = [*HISTORY, indexed("streams/day2.csv", "batch-5", ["2024-06-04"])]
    days = etl_decisions.corrected_days(versions, ["streams/day2.csv", "streams/new.csv"])
    assert days == {"2024-06-01", "2024-06-02", "2024-06-04"}


def test_versions_processed_before_the_index_fall_back_to_a_scan():
    old = item("streams/day0.csv", "batch-0")  # no listen_dates: written by an earlier job
    assert etl_decisions.paths_holding([*HISTORY, old], ["2024-06-03"]) is None
    assert etl_decisions.corrected_days([*HISTORY, old], ["streams/day0.csv"]) is None
    # an unindexed version of another key does not matter to a correction
    assert etl_decisions.corrected_days([*HISTORY, old], ["streams/day3.csv"]) == {"2024-06-03"}


def test_the_reference_is_read_only_from_the_paths_of_its_counted_versions():
    def version(key: str, batch: str) -> dict:
        path = f"s3://p/reference/songs/batch_id={batch}/"
        return {**item(key, batch, "songs"), etl_decisions.PROCESSED_TO: path}

    counted = [version("songs/a.csv", "batch-3"), version("songs/b.csv", "batch-1")]
    songs = etl_decisions.of_dataset([*counted, *HISTORY[:3]], "songs")
    assert songs == counted
    assert etl_decisions.reference_paths(songs) == [
        "s3://p/reference/songs/batch_id=batch-1/",
        "s3://p/reference/songs/batch_id=batch-3/",
    ]
    # a version stored before the index: read every stored version
    assert etl_decisions.reference_paths([*songs, item("songs/c.csv", "batch-0", "songs")]) is None


@pytest.mark.parametrize(
    "processed, expected",
    [
        ([], False),  # an empty history: nothing to rescan
        ([item("streams/a.csv", BATCH)], False),  # only this batch's streams
        ([item("songs/s.csv", "batch-1", "songs")], False),  # other batches, no streams
        ([item("streams/a.csv", "batch-1")], True),
    ],
)
def test_reference_updates_rescan_only_when_other_streams_exist(processed, expected):
    assert etl_decisions.reference_update_needs_scan(BATCH, processed) is expected


def test_archiving_verifies_then_marks_a_file_whose_kpis_are_written():
    ready = item("streams/a.csv", BATCH, state=file_ledger.KPIS_WRITTEN)
    assert etl_decisions.archive_step(ready, BATCH, "f") == etl_decisions.VERIFY_AND_ARCHIVE


def test_archiving_rerun_after_a_crash_only_deletes_the_raw_version():
    done = item("streams/a.csv", BATCH, state=file_ledger.ARCHIVED)
    assert etl_decisions.archive_step(done, BATCH, "f") == etl_decisions.DELETE_RAW_ONLY


@pytest.mark.parametrize(
    "ledger_item",
    [
        None,  # never recorded
        item("streams/a.csv", BATCH, state=file_ledger.PROCESSED),  # KPIs not written yet
        item("streams/a.csv", "batch-9", state=file_ledger.KPIS_WRITTEN),  # another batch's file
    ],
)
def test_archiving_never_outruns_the_kpis_or_takes_another_batchs_file(ledger_item):
    with pytest.raises(RuntimeError, match="KPIs of f are not written"):
        etl_decisions.archive_step(ledger_item, BATCH, "f")


def test_metrics_count_stream_rows_and_unknown_ids_of_the_recomputed_days():
    files = {
        "s1": {"dataset": "streams", "rows": 10, "rejected_rows": 2},
        "s2": {"dataset": "streams", "rows": 5, "rejected_rows": 0},
        "songs": {"dataset": "songs", "rows": 300, "rejected_rows": 7},  # not stream rows
    }
    quality = [
        {"unknown_track_streams": 1, "unknown_user_streams": 0},
        {"unknown_track_streams": 2, "unknown_user_streams": 4},
    ]
    assert etl_decisions.etl_metrics(files, quality) == {
        "ProcessedRecords": 13,
        "RejectedRecords": 2,
        "UnknownTrackStreams": 3,
        "UnknownUserStreams": 4,
    }


def test_a_reference_change_is_measured_against_the_versions_counted_without_the_batch():
    older = {**item("songs/s.csv", "batch-1", "songs"), "upload_order": "1"}
    mine = {**item("songs/s.csv", BATCH, "songs"), "upload_order": "2"}
    late = {**item("songs/late.csv", BATCH, "songs"), "upload_order": "3"}
    before = etl_decisions.counted_before(BATCH, [older, mine, late])
    assert before == {"songs/s.csv": older}
