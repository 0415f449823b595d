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
