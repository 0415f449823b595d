"""Both job scripts run exactly as Glue runs them (spark-submit / python, ``--key value``) against
MiniStack over HTTP, reading s3:// paths through S3A."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from job_stack import assert_ok

from devstack.core import paths
from devstack.tools.kpi_duckdb import expected_items, kpi_items_only
from music_streaming import aws, layout

pytestmark = pytest.mark.integration
PROCESSING_DATE = "2024-07-01"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """Three days of generated data, streams split over two files."""
    out = tmp_path_factory.mktemp("generated")
    subprocess.run(
        [
            sys.executable,
            str(paths.ROOT / "scripts" / "generate_data.py"),
            str(out),
            "--streams",
            "20000",
            "--songs",
            "800",
            "--users",
            "300",
            "--days",
            "3",
            "--files",
            "2",
            "--seed",
            "7",
        ],
        check=True,
    )
    return out


def files(root: Path, dataset: str) -> list[Path]:
    return sorted((root / dataset).glob("*.csv"))


def run_batch(stack, batch_id: str, keys: list[str]) -> None:
    assert_ok(stack.validate(batch_id, keys))
    for task in ("full_etl", "dynamodb_only", "archiving_only"):
        assert_ok(stack.etl(task, batch_id, PROCESSING_DATE))


def test_sample_batch_through_all_tasks(stack):
    keys = stack.upload_dir(paths.SAMPLE_DATA_DIR)
    run_batch(stack, "b-sample", keys)

    report = json.loads(
        stack.s3.get_object(
            Bucket=stack["processed_bucket"], Key=layout.validation_report_key("b-sample")
        )["Body"].read()
    )
    assert report["status"] == "valid" and sorted(report["valid_files"]) == keys

    parquet = stack.keys(
        "processed_bucket", layout.processed_batch_prefix(PROCESSING_DATE, "b-sample")
    )
    assert any("/genre=" in k and k.endswith(".parquet") for k in parquet)

    sample = paths.SAMPLE_DATA_DIR
    expected = expected_items(
        files(sample, "streams"), files(sample, "songs"), files(sample, "users")
    )
    assert kpi_items_only(stack.kpi_items()) == expected

    tracked = stack.tracked()
    assert set(tracked) == set(keys)
    assert {i["state"] for i in tracked.values()} == {"ARCHIVED"}
    streams_item = tracked["streams/streams_01.csv"]
    assert streams_item["row_count"] == 3000 and streams_item["rejected_rows"] == 0
    assert [h["state"] for h in streams_item["history"]] == [
        "RECEIVED",
        "CLAIMED",
        "VALIDATED",
        "PROCESSED",
        "KPIS_WRITTEN",
        "ARCHIVED",
    ]

    assert stack.keys("raw_data_bucket") == []
    assert not stack.s3.list_object_versions(Bucket=stack["raw_data_bucket"]).get("Versions")
    assert stack.keys("archive_bucket") == sorted(
        layout.archive_key(i["dataset"], i["file_key"], k, i["uploaded_at"])
        for k, i in tracked.items()
    )


def test_a_copy_written_over_after_validation_changes_nothing_the_etl_reads(stack):
    """The archive is versioned and the ETL reads the version validation verified: bytes put over
    a copy's key add a version nobody reads. Archiving tags the verified version only."""
    keys = stack.upload_dir(paths.SAMPLE_DATA_DIR)
    assert_ok(stack.validate("b-over", keys))
    item = stack.tracked()["streams/streams_01.csv"]
    bucket, key = layout.split_s3_url(item["archive_copy"])
    intruder = stack.s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=b"user_id,track_id,listen_time\nintruder,t1,2024-06-01 10:00:00\n",
    )["VersionId"]
    for task in ("full_etl", "dynamodb_only", "archiving_only"):
        assert_ok(stack.etl(task, "b-over", PROCESSING_DATE))

    sample = paths.SAMPLE_DATA_DIR
    assert kpi_items_only(stack.kpi_items()) == expected_items(
        files(sample, "streams"), files(sample, "songs"), files(sample, "users")
    )
    assert {i["state"] for i in stack.tracked().values()} == {"ARCHIVED"}
    versions = stack.s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
    tags = {
        v["VersionId"]: stack.s3.get_object_tagging(
            Bucket=bucket, Key=key, VersionId=v["VersionId"]
        )["TagSet"]
        for v in versions
    }
    assert tags == {
        item["archive_version"]: [{"Key": "pipeline-state", "Value": "archived"}],
        intruder: [],
    }


def test_rerun_gives_the_same_outputs(stack):
    keys = stack.upload_dir(paths.SAMPLE_DATA_DIR)
    assert_ok(stack.validate("b-rerun", keys))
    prefix = layout.processed_batch_prefix(PROCESSING_DATE, "b-rerun")
    outputs = []
    for _ in range(2):
        assert_ok(stack.etl("full_etl", "b-rerun", PROCESSING_DATE))
        assert_ok(stack.etl("dynamodb_only", "b-rerun", PROCESSING_DATE))
        outputs.append(
            (
                kpi_items_only(stack.kpi_items()),
                len([k for k in stack.keys("processed_bucket", prefix) if k.endswith(".parquet")]),
            )
        )
    assert outputs[0] == outputs[1]
    assert outputs[0][1] > 0


def test_two_files_of_the_same_days_give_the_union_and_redelivery_changes_nothing(stack, generated):
    songs, users, streams = (files(generated, d) for d in ("songs", "users", "streams"))
    first = [
        stack.put(f"{d}/{p.name}", p.read_bytes())
        for d, p in (("songs", songs[0]), ("users", users[0]), ("streams", streams[0]))
    ]
    run_batch(stack, "b-1", first)
    assert kpi_items_only(stack.kpi_items()) == expected_items(streams[:1], songs, users)

    run_batch(stack, "b-2", [stack.put("streams/late.csv", streams[1].read_bytes())])
    union = expected_items(streams, songs, users)
    assert kpi_items_only(stack.kpi_items()) == union

    # the first file delivered again under another name: its events count once
    run_batch(stack, "b-3", [stack.put("streams/again.csv", streams[0].read_bytes())])
    assert kpi_items_only(stack.kpi_items()) == union

    # a header-only re-upload of a key retracts that key's rows: its days recomputed without
    run_batch(stack, "b-4", [stack.put("streams/late.csv", b"user_id,track_id,listen_time\n")])
    assert kpi_items_only(stack.kpi_items()) == expected_items(streams[:1], songs, users)


def test_streams_before_their_songs_are_counted_once_songs_arrive(stack, generated):
    songs, users, streams = (files(generated, d) for d in ("songs", "users", "streams"))
    run_batch(stack, "b-streams", [stack.put("streams/s.csv", streams[0].read_bytes())])
    quality = [i for i in stack.kpi_items() if i["kpi"] == "quality"]
    assert quality and all(i["unknown_track_streams"] == i["streams"] for i in quality)
    run_batch(
        stack,
        "b-ref",
        [
            stack.put("songs/s.csv", songs[0].read_bytes()),
            stack.put("users/u.csv", users[0].read_bytes()),
        ],
    )
    assert kpi_items_only(stack.kpi_items()) == expected_items(streams[:1], songs, users)


def touched_days(stack, batch_id: str) -> list[str]:
    summary = aws.read_json(stack.s3, stack["processed_bucket"], layout.etl_summary_key(batch_id))
    return summary["touched_days"]


def test_a_reference_upload_recomputes_only_the_days_of_the_ids_it_changes(
    stack, generated, tmp_path
):
    songs, users, streams = (files(generated, d) for d in ("songs", "users", "streams"))
    run_batch(
        stack,
        "b-1",
        [
            stack.put("songs/s.csv", songs[0].read_bytes()),
            stack.put("users/u.csv", users[0].read_bytes()),
            stack.put("streams/s.csv", streams[0].read_bytes()),
        ],
    )
    # the same catalogue again: nothing the KPIs read changes, so no day is recomputed
    run_batch(stack, "b-2", [stack.put("songs/s.csv", songs[0].read_bytes())])
    assert touched_days(stack, "b-2") == []
    assert kpi_items_only(stack.kpi_items()) == expected_items(streams[:1], songs, users)

    # a track played on one day only changes genre: exactly that day is recomputed
    days_played: dict[str, set] = {}
    with streams[0].open(newline="") as f:
        for play in csv.DictReader(f):
            days_played.setdefault(play["track_id"], set()).add(play["listen_time"][:10])
    moved = min(sorted(days_played), key=lambda track: len(days_played[track]))
    with songs[0].open(newline="") as f:
        catalogue = list(csv.DictReader(f))
    for row in catalogue:
        if row["track_id"] == moved:
            row["track_genre"] = "zz-moved"
    changed = tmp_path / "songs.csv"
    with changed.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(catalogue[0]))
        writer.writeheader()
        writer.writerows(catalogue)
    run_batch(stack, "b-3", [stack.put("songs/s.csv", changed.read_bytes())])
    assert touched_days(stack, "b-3") == sorted(days_played[moved])
    assert len(days_played[moved]) < len(set().union(*days_played.values()))
    assert kpi_items_only(stack.kpi_items()) == expected_items(streams[:1], [changed], users)


def test_corrections_find_their_days_by_the_listen_date_index_or_by_a_scan(
    stack, generated, tmp_path
):
    """full_etl records each stream file's days and batch path in the ledger; a correction
    recomputes the earlier version's days from it, and files processed before the index (no
    listen_dates) are still found, by reading all processed streams."""
    songs, users, streams = (files(generated, d) for d in ("songs", "users", "streams"))
    lines = streams[1].read_text().splitlines(keepends=True)
    first_day = lines[1].split(",")[2][:10]
    one_day = tmp_path / "one_day.csv"  # a correction whose rows fall on one day only
    one_day.write_text(
        lines[0] + "".join(x for x in lines[1:] if x.split(",")[2][:10] == first_day)
    )
    reference = [
        stack.put("songs/s.csv", songs[0].read_bytes()),
        stack.put("users/u.csv", users[0].read_bytes()),
    ]
    run_batch(stack, "b-1", [*reference, stack.put("streams/s.csv", streams[0].read_bytes())])
    item = stack.tracked()["streams/s.csv"]
    assert len(item["listen_dates"]) == 3 and item["listen_dates"][0] == first_day
    assert item["processed_to"] == layout.s3_url(
        stack["processed_bucket"], layout.processed_batch_prefix(PROCESSING_DATE, "b-1")
    )

    run_batch(stack, "b-2", [stack.put("streams/s.csv", one_day.read_bytes())])
    assert kpi_items_only(stack.kpi_items()) == expected_items([one_day], songs, users)

    # as if both versions had been processed before the index existed
    table = stack.ledger.table
    for version in table.scan()["Items"]:
        if version.get("key") == "streams/s.csv":
            table.update_item(
                Key={"file_key": version["file_key"]},
                UpdateExpression="REMOVE listen_dates, processed_to",
            )
    run_batch(stack, "b-3", [stack.put("streams/s.csv", streams[0].read_bytes())])
    assert kpi_items_only(stack.kpi_items()) == expected_items(streams[:1], songs, users)


def test_invalid_file_is_reported_and_quarantined(stack):
    good = stack.put(
        "streams/good.csv", b"user_id,track_id,listen_time\nu1,t1,2024-06-01 10:00:00\n"
    )
    bad = stack.put("streams/bad.csv", b"user_id,listen_time\nu1,2024-06-01 10:00:00\n")
    result = stack.validate("b-bad", [good, bad])
    assert result.returncode == 1, "an invalid batch must fail the job"

    report = json.loads(
        stack.s3.get_object(
            Bucket=stack["processed_bucket"], Key=layout.validation_report_key("b-bad")
        )["Body"].read()
    )
    assert report["status"] == "invalid" and report["invalid_files"] == [bad]
    [entry] = [f for f in report["files"] if f["key"] == bad]
    assert entry["missing_columns"] == ["track_id"]
    version = stack.tracked()[bad]["version_id"]
    quarantined = layout.quarantine_key("b-bad", bad, version)
    assert entry["quarantined_to"] == f"s3://{stack['quarantine_bucket']}/{quarantined}"
    assert sorted(stack.keys("quarantine_bucket")) == [quarantined, quarantined + ".reason.json"]
    head = stack.s3.head_object(Bucket=stack["quarantine_bucket"], Key=quarantined)
    assert "track_id" in head["Metadata"]["reason"]
    assert stack.keys("raw_data_bucket") == [good], "bad file must leave raw only after its copy"

    # a rerun of the same batch reports the same verdict and loses nothing
    assert stack.tracked()[bad]["state"] == "QUARANTINED"
    again = stack.validate("b-bad", files=result.files, fail_on_invalid=False)
    assert again.returncode == 0
    report = json.loads(
        stack.s3.get_object(
            Bucket=stack["processed_bucket"], Key=layout.validation_report_key("b-bad")
        )["Body"].read()
    )
    assert report["invalid_files"] == [bad]
    [entry] = [f for f in report["files"] if f["key"] == bad]
    assert entry["quarantined_to"].endswith(quarantined) and "track_id" in entry["errors"][0]
    assert sorted(stack.keys("quarantine_bucket")) == [quarantined, quarantined + ".reason.json"]


def test_archiving_refuses_files_whose_kpis_are_not_written(stack):
    keys = stack.upload_dir(paths.SAMPLE_DATA_DIR)
    assert_ok(stack.validate("b-early", keys))
    assert_ok(stack.etl("full_etl", "b-early", PROCESSING_DATE))
    result = stack.etl("archiving_only", "b-early", PROCESSING_DATE)
    assert result.returncode != 0
    assert "are not written" in result.stdout
    assert sorted(stack.keys("raw_data_bucket")) == sorted(keys)
    # the verified copies made at validation stay; nothing is ARCHIVED, nothing left raw
    assert {i["state"] for i in stack.tracked().values()} == {"PROCESSED"}
