"""The file ledger and the KPI snapshot writer on DynamoDB over HTTP (the emulator): every
transition, the refusals, two batches racing for the same files, and monotonic snapshots."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import boto3
import pytest
from botocore.exceptions import ClientError

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


def hold(ledger, batch: str, versions, state: str, lease=None) -> list[dict]:
    """Records and claims ``versions`` for ``batch``, moves them to ``state``; the items."""
    for version in versions:
        ledger.record(version)
    ids = [v.file_id for v in versions]
    ledger.claim(batch, len(ids), first=ids, candidates=[], lease=lease)
    path = [file_ledger.VALIDATED, file_ledger.PROCESSED, file_ledger.KPIS_WRITTEN]
    for target in path[: path.index(state) + 1] if state in path else []:
        for file_id in ids:
            ledger.move(file_id, target, batch)
    return ledger.get_many(ids)


def test_a_claim_records_its_run_and_lease(tables):
    _, ledger = tables
    lease = file_ledger.Lease("dag", "run-1", 600)
    [item] = hold(ledger, "b1", [upload("streams/a.csv")], file_ledger.CLAIMED, lease)
    assert (item["claimed_by_dag"], item["claimed_by_run"]) == ("dag", "run-1")
    assert 590 <= int(item["lease_expires_epoch"]) - time.time() <= 610


def test_a_released_file_is_received_again_for_a_batch_half_the_size(tables):
    _, ledger = tables
    versions = [upload(f"streams/f{n}.csv", second=n) for n in range(6)]
    items = hold(ledger, "dead", versions, file_ledger.PROCESSED)
    for item in items:
        assert ledger.release(item, "run failed", 4, len(items)) == file_ledger.RECEIVED
    item = ledger.get(versions[0].file_id)
    assert item["attempts"] == 1 and item["batch_limit"] == 3 and "batch_id" not in item
    assert (
        item["failures"][0]["step"] == "dynamodb_only" and item["failures"][0]["batch_id"] == "dead"
    )
    # no batch holding a released file takes more than its limit; the others wait their turn
    fresh = upload("streams/fresh.csv", second=30)
    ledger.record(fresh)
    first = ledger.claim("next", 100, first=[fresh.file_id])
    assert len(first) == 3 and fresh.file_id in {i["file_key"] for i in first}
    assert len(ledger.claim("after", 100)) == 3
    assert [i["key"] for i in ledger.claim("last", 100)] == ["streams/f5.csv"]


def test_files_of_a_deleted_run_keep_their_batch_size(tables):
    _, ledger = tables
    items = hold(
        ledger, "gone", [upload(f"streams/d{n}.csv", second=n) for n in range(4)], "CLAIMED"
    )
    for item in items:
        ledger.release(item, "run deleted", 4, len(items), suspect=False)
    assert "batch_limit" not in ledger.get(items[0]["file_key"])
    assert len(ledger.claim("again", 100)) == 4


def test_a_release_is_refused_when_the_run_moved_the_file_meanwhile(tables):
    _, ledger = tables
    [item] = hold(ledger, "b1", [upload("streams/a.csv")], file_ledger.VALIDATED)
    ledger.move(item["file_key"], file_ledger.PROCESSED, "b1")  # the run was alive after all
    assert ledger.release(item, "looked dead", 4, 1) == file_ledger.PROCESSED
    assert ledger.get(item["file_key"])["batch_id"] == "b1"


def test_attempts_used_up_make_a_file_failed_with_its_step_and_reason_then_retry(tables):
    _, ledger = tables
    version = upload("streams/poison.csv")
    for attempt in range(1, 4):
        [item] = hold(ledger, f"b{attempt}", [version], file_ledger.VALIDATED)
        assert ledger.release(item, f"crash {attempt}", 3, 5) in (
            file_ledger.RECEIVED,
            file_ledger.FAILED,
        )
        if attempt == 2:  # the last attempt runs alone
            assert ledger.get(version.file_id)["batch_limit"] == 1
    item = ledger.get(version.file_id)
    assert item["state"] == file_ledger.FAILED and item["attempts"] == 3
    assert item["failed_step"] == "full_etl"
    assert item["reason"] == "full_etl failed 3 time(s); last: crash 3"
    assert ledger.claim("b9", 10) == []  # FAILED is terminal
    assert ledger.retry_failed(version.file_id) and not ledger.retry_failed(version.file_id)
    item = ledger.get(version.file_id)
    assert item["state"] == file_ledger.RECEIVED and "attempts" not in item
    assert [i["file_key"] for i in ledger.claim("b10", 10)] == [version.file_id]


def test_counted_versions_are_read_from_the_table_not_the_index(tables):
    _, ledger = tables
    [item] = hold(ledger, "b1", [upload("streams/a.csv")], file_ledger.PROCESSED)

    def lagging_index(**request):  # the index has not seen the write yet
        raise AssertionError(f"an index was read to decide what counts: {request}")

    ledger.table = IndexlessTable(ledger.table, lagging_index)
    assert ledger.counted_versions("raw")["streams/a.csv"]["file_key"] == item["file_key"]


class IndexlessTable:
    """A table whose index queries fail: what decides KPIs must read the table itself."""

    def __init__(self, table, query):
        self._table, self.query = table, query

    def __getattr__(self, name):
        return getattr(self._table, name)


def test_an_older_snapshot_never_replaces_a_newer_one(tables):
    name, _ = tables
    writer = kpi_snapshot.SnapshotWriter(boto3.client("dynamodb"), name, config.KPI_DATE_INDEX)
    day = "2024-06-01"

    def genre(genre: str, count: int) -> dict:
        return genre_item(day, genre, count)

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


def genre_item(day: str, genre: str, count: int) -> dict:
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


class CancellingClient:
    """The real client, except that its next transactions are cancelled with ``codes`` (one
    code per action of the transaction, as DynamoDB reports them)."""

    def __init__(self, client, codes: list[str], times: int):
        self._client, self.codes, self.times, self.cancelled = client, codes, times, 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def transact_write_items(self, **request):
        if self.cancelled < self.times:
            self.cancelled += 1
            reasons = [{"Code": c} for c in self.codes]
            reasons += [{"Code": "None"}] * (len(request["TransactItems"]) - len(reasons))
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                    "CancellationReasons": reasons,
                },
                "TransactWriteItems",
            )
        return self._client.transact_write_items(**request)


def day_state(name: str, day: str) -> tuple[dict, dict]:
    """(the day's marker, its items by sort key), read from the table."""
    table = boto3.resource("dynamodb").Table(name)
    items = [i for i in table.scan(ConsistentRead=True)["Items"] if i.get("date") == day]
    marker = next(i for i in items if i["sk"] == kpi_snapshot.SNAPSHOT_SK)
    return marker, {
        dynamo_items.item_key(i): i for i in items if i["sk"] != kpi_snapshot.SNAPSHOT_SK
    }


@pytest.mark.parametrize(
    "codes", [["None", "TransactionConflict"], ["ThrottlingError"], ["None", "ThrottlingError"]]
)
def test_conflicts_and_throttling_are_retried_not_taken_for_a_newer_snapshot(tables, codes):
    name, _ = tables
    day = "2024-06-02"
    client = CancellingClient(boto3.client("dynamodb"), codes, times=3)
    writer = kpi_snapshot.SnapshotWriter(client, name, config.KPI_DATE_INDEX, sleep=lambda s: None)
    assert writer.write_day(day, [genre_item(day, "pop", 3)], 100, "b1") == (
        kpi_snapshot.WRITTEN,
        0,
    )
    assert client.cancelled == 3
    marker, items = day_state(name, day)
    assert marker["written_version"] == 100 and marker["written_batch"] == "b1"
    assert kpi_snapshot.settled(marker, items.values())


def test_only_the_markers_condition_means_a_newer_snapshot_won(tables):
    name, _ = tables
    day = "2024-06-03"
    client = CancellingClient(boto3.client("dynamodb"), ["ConditionalCheckFailed"], times=1)
    writer = kpi_snapshot.SnapshotWriter(client, name, config.KPI_DATE_INDEX, sleep=lambda s: None)
    assert writer.write_day(day, [genre_item(day, "pop", 3)], 100) == (kpi_snapshot.SUPERSEDED, 0)


def test_a_cancellation_no_retry_clears_is_an_error_not_a_superseded_day(tables):
    name, _ = tables
    day = "2024-06-04"
    client = CancellingClient(boto3.client("dynamodb"), ["None", "ValidationError"], times=1)
    writer = kpi_snapshot.SnapshotWriter(client, name, config.KPI_DATE_INDEX, sleep=lambda s: None)
    with pytest.raises(kpi_snapshot.SnapshotCancelled, match="ValidationError"):
        writer.write_day(day, [genre_item(day, "pop", 3)], 100)
    endless = CancellingClient(boto3.client("dynamodb"), ["None", "TransactionConflict"], 99)
    writer = kpi_snapshot.SnapshotWriter(endless, name, config.KPI_DATE_INDEX, sleep=lambda s: None)
    with pytest.raises(kpi_snapshot.SnapshotCancelled, match="still cancelled"):
        writer.write_day(day, [genre_item(day, "pop", 3)], 100)


def test_an_item_over_400_kb_is_refused_naming_it(tables):
    name, _ = tables
    day = "2024-06-05"
    writer = kpi_snapshot.SnapshotWriter(boto3.client("dynamodb"), name, config.KPI_DATE_INDEX)
    with pytest.raises(kpi_snapshot.ItemTooLarge, match="GENRE#x{20}"):
        writer.write_day(day, [genre_item(day, "x" * 500_000, 3)], 100)


def test_two_writers_racing_on_one_day_leave_exactly_the_newest_snapshot(tables):
    name, _ = tables
    day = "2024-06-06"
    # 250 items each (three transactions), different genres: any mix would show
    snapshots = {
        version: [genre_item(day, f"g{version}-{n:03d}", version) for n in range(250)]
        for version in (100, 200)
    }
    for _round in range(2):
        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(
                pool.map(
                    lambda v: kpi_snapshot.SnapshotWriter(
                        boto3.client("dynamodb"), name, config.KPI_DATE_INDEX
                    ).write_day(day, snapshots[v], v, f"b{v}"),
                    sorted(snapshots),
                )
            )
        assert outcomes[1][0] == kpi_snapshot.WRITTEN
        marker, items = day_state(name, day)
        assert marker["snapshot_version"] == 200 and marker["written_batch"] == "b200"
        assert sorted(items) == sorted(dynamo_items.item_key(i) for i in snapshots[200])
        assert {int(i["listen_count"]) for i in items.values()} == {200}
        assert kpi_snapshot.settled(marker, items.values())


def test_a_listed_version_never_sorts_a_correction_before_what_it_corrects(tables):
    """An event and a sweep race over two uploads of one key in the same second: whichever
    records which, the newer upload counts."""
    _, ledger = tables
    s3 = boto3.client("s3")
    bucket = f"race-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(Bucket=bucket, Key="streams/k.csv", Body=b"a")["VersionId"]
    new = s3.put_object(Bucket=bucket, Key="streams/k.csv", Body=b"b")["VersionId"]
    listed = {v["VersionId"]: v for v in s3.list_object_versions(Bucket=bucket)["Versions"]}
    second = file_ledger.uploaded_at(listed[new]["LastModified"])

    def evented(version: str, sequencer: str) -> file_ledger.FileVersion:
        return file_ledger.FileVersion(bucket, "streams/k.csv", version, "e", 1, second, sequencer)

    # the older upload came by event (S3's sequencer), in the newer one's second; the newer
    # only by the sweep (no sequencer)
    ledger.record(evented(old, "0055AED6DCD90281E5"))
    [swept] = file_ledger.discover(s3, ledger, bucket)
    assert swept.version_id == new and swept.listed_latest
    for version in (old, new):
        file_id = file_ledger.file_id(bucket, "streams/k.csv", version)
        ledger.claim(f"b-{version}", 1, first=[file_id], candidates=[])
        ledger.move(file_id, file_ledger.VALIDATED, f"b-{version}")
        ledger.move(file_id, file_ledger.PROCESSED, f"b-{version}")
    assert ledger.counted_versions(bucket)["streams/k.csv"]["version_id"] == new


def test_a_claim_takes_only_files_of_the_bucket_whose_rows_its_run_counts(tables):
    _, ledger = tables
    ours = upload("streams/a.csv")
    theirs = file_ledger.FileVersion("other", "streams/a.csv", "v1", "e", 1, ours.uploaded_at)
    ledger.record(ours)
    ledger.record(theirs)
    assert [i["bucket"] for i in ledger.claim("b1", 10, bucket="raw")] == ["raw"]
    assert ledger.get(theirs.file_id)["state"] == file_ledger.RECEIVED
