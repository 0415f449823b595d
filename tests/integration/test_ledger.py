"""The file ledger and the KPI snapshot writer on DynamoDB over HTTP (the emulator): every
transition, the refusals, two batches racing for the same files, and monotonic snapshots."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import boto3
import pytest

from music_streaming import aws, config, dynamo_items, kpi_snapshot
from music_streaming import ledger as file_ledger

pytestmark = pytest.mark.integration


@pytest.fixture
def tables(endpoint):
    name = f"ledger-test-{uuid.uuid4().hex[:8]}"
    aws.pipeline_tables(boto3.client("dynamodb"), name)
    resource = boto3.resource("dynamodb")
    return name, file_ledger.Ledger(resource.Table(config.file_tracker_table(name)))


def upload(key: str, version: str = "v1", second: int = 0) -> file_ledger.FileVersion:
    return file_ledger.FileVersion(
        "raw", key, version, "etag", 10, f"2024-06-01T10:00:{second:02d}Z"
    )


def test_the_whole_path_and_nothing_else(tables):
    _, ledger = tables
    version = upload("streams/a.csv")
    assert ledger.record(version) and not ledger.record(version)  # recorded once
    [claimed] = ledger.claim("b1", 10)
    assert claimed["state"] == file_ledger.CLAIMED and claimed["batch_id"] == "b1"
    path = [
        file_ledger.VALIDATED,
        file_ledger.PROCESSED,
        file_ledger.KPIS_WRITTEN,
        file_ledger.ARCHIVED,
    ]
    for target in path:
        with pytest.raises(file_ledger.TransitionRefused):  # another batch may not move it
            ledger.move(version.file_id, target, "b2")
        assert ledger.move(version.file_id, target, "b1")["state"] == target
        # a retried or rerun stage finds its work done
        assert ledger.move(version.file_id, target, "b1")["state"] == target
    item = ledger.get(version.file_id)
    assert [h["state"] for h in item["history"]] == [
        file_ledger.RECEIVED,
        file_ledger.CLAIMED,
        *path,
    ]
    with pytest.raises(file_ledger.TransitionRefused):  # terminal: nothing moves it back
        ledger.move(version.file_id, file_ledger.QUARANTINED, "b1")


def test_states_out_of_order_are_refused(tables):
    _, ledger = tables
    version = upload("streams/b.csv")
    ledger.record(version)
    for target in (file_ledger.VALIDATED, file_ledger.PROCESSED, file_ledger.ARCHIVED):
        with pytest.raises(file_ledger.TransitionRefused):
            ledger.move(version.file_id, target, "b1")
    ledger.claim("b1", 10)
    assert ledger.move(version.file_id, file_ledger.QUARANTINED, "b1")["state"] == "QUARANTINED"
    with pytest.raises(file_ledger.TransitionRefused):
        ledger.move(version.file_id, file_ledger.VALIDATED, "b1")


def test_ignored_uploads_are_never_claimed(tables):
    _, ledger = tables
    state, new = file_ledger.record_upload(ledger, upload("streams/x.csv.gz"))
    assert (state, new) == (file_ledger.IGNORED, True)
    assert ledger.claim("b1", 10) == []
    assert ledger.in_state(file_ledger.IGNORED)[0]["reason"].startswith("compressed")


def test_two_batches_racing_never_share_a_file(tables):
    _, ledger = tables
    versions = [upload(f"streams/r{i}.csv", second=i) for i in range(20)]
    for version in versions:
        ledger.record(version)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(lambda b: ledger.claim(b, 100), ["realtime", "daily"])
    ids = [i["file_key"] for i in first] + [i["file_key"] for i in second]
    assert sorted(ids) == sorted(v.file_id for v in versions)  # every file, exactly once


def test_claim_takes_triggering_files_first_then_the_oldest_up_to_the_limit(tables):
    _, ledger = tables
    versions = [upload(f"streams/o{i}.csv", second=i) for i in range(5)]
    for version in versions:
        ledger.record(version)
    claimed = ledger.claim("b1", 2, first=[versions[4].file_id])
    assert {i["key"] for i in claimed} == {"streams/o4.csv", "streams/o0.csv"}
    assert len(ledger.claim("b1", 2)) == 4  # a retried claim keeps what it holds


def test_the_newest_processed_upload_counts_not_the_newest_processing(tables):
    _, ledger = tables
    older, newer = upload("streams/k.csv", "v1", 1), upload("streams/k.csv", "v2", 5)
    for batch, version in (("b-new", newer), ("b-old", older)):  # newer processed first
        ledger.record(version)
        ledger.claim(batch, 1, first=[version.file_id], candidates=[])
        ledger.move(version.file_id, file_ledger.VALIDATED, batch)
        ledger.move(version.file_id, file_ledger.PROCESSED, batch)
    assert ledger.counted_versions("raw")["streams/k.csv"]["version_id"] == "v2"


def test_the_run_flag_lets_one_trigger_through_and_expires(tables):
    _, ledger = tables
    assert ledger.request_run("r1", 600) and not ledger.request_run("r2", 600)
    ledger.release_run_request("r2")  # not the holder: no effect
    assert not ledger.request_run("r3", 600)
    assert ledger.request_run("r4", -1)  # a flag older than the staleness bound is taken over
    ledger.release_run_request()
    assert ledger.request_run("r5", 600)


def test_an_older_snapshot_never_replaces_a_newer_one(tables):
    name, _ = tables
    writer = kpi_snapshot.SnapshotWriter(boto3.client("dynamodb"), name, config.KPI_DATE_INDEX)
    day = "2024-06-01"

    def genre(genre: str, count: int) -> dict:
        return dynamo_items.genre_daily_item(
            {
                "listen_date": day,
                "genre": genre,
                "listen_count": count,
                "unique_listeners": 1,
                "total_listening_time_ms": 1,
                "avg_listening_time_per_user_ms": 1.0,
            }
        )

    assert writer.write_day(day, [genre("pop", 1), genre("rock", 1)], 100) == (
        kpi_snapshot.WRITTEN,
        0,
    )
    assert writer.write_day(day, [genre("pop", 2)], 200) == (kpi_snapshot.WRITTEN, 1)
    # the older computation arrives late: it may not bring rock back nor overwrite pop
    assert writer.write_day(day, [genre("pop", 1), genre("rock", 1)], 100) == (
        kpi_snapshot.SUPERSEDED,
        0,
    )
    table = boto3.resource("dynamodb").Table(name)
    items = {i["sk"] if i["sk"] == "SNAPSHOT" else i["genre"]: i for i in table.scan()["Items"]}
    assert set(items) == {"SNAPSHOT", "pop"}
    assert items["pop"]["listen_count"] == 2 and items["SNAPSHOT"]["snapshot_version"] == Decimal(
        200
    )
    # a retry of the newest snapshot completes it again, unchanged
    assert writer.write_day(day, [genre("pop", 2)], 200) == (kpi_snapshot.WRITTEN, 0)
