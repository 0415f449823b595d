"""Exactly once per file version, proven by breaking things on the real local stack: bursts,
re-uploads (corrections), multipart objects, a Glue run killed mid-archiving, both DAGs on the same
files. Every test ends with "nothing lost, KPIs equal the independent computation". Each uses its
own days so the KPIs of one do not touch another's."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from live_stack import generate

from devstack.core import airflow_api
from devstack.runtime import stack
from devstack.tools.kpi_duckdb import expected_items, kpi_items_only
from music_streaming import config, layout
from music_streaming import ledger as file_ledger

pytestmark = pytest.mark.e2e


def csvs(root: Path, dataset: str) -> list[Path]:
    return sorted((root / dataset).glob("*.csv"))


def days_from(first: str, count: int = 2) -> set[str]:
    year, month, day = first.split("-")
    return {f"{year}-{month}-{int(day) + i:02d}" for i in range(count)}


def assert_nothing_lost(live, file_ids: list[str]) -> list[dict]:
    """Every version ARCHIVED (its copy in the archive bucket, verified by the job), none left in
    raw; returns the items."""
    items = [live.ledger.get(f) for f in file_ids]
    assert [i["state"] for i in items] == ["ARCHIVED"] * len(items), [
        (i["key"], i["state"]) for i in items
    ]
    raw_versions = {
        (v["Key"], v["VersionId"])
        for v in live.s3.list_object_versions(Bucket=live["raw_data_bucket"]).get("Versions", [])
    }
    assert not {(i["key"], i["version_id"]) for i in items} & raw_versions
    archived = set(live.keys("archive_bucket"))
    assert all(i["archived_to"].split("/", 3)[-1] in archived for i in items)
    return items


# One catalogue for the module, uploaded once: every test's streams are generated from the same
# seed (the same track and user ids) on days of their own.
SEED = 50


@pytest.fixture(scope="module")
def ref(live, tmp_path_factory) -> Path:
    data = generate(tmp_path_factory.mktemp("ref"), "2040-01-01", seed=SEED)
    live.wait(
        [
            live.upload("songs/catalogue.csv", csvs(data, "songs")[0]),
            live.upload("users/users.csv", csvs(data, "users")[0]),
        ]
    )
    return data


def test_a_burst_of_30_files_reaches_the_kpis_in_few_runs(live, ref, tmp_path):
    data = generate(tmp_path, "2040-01-01", seed=SEED, streams=3000, files=30)
    runs_before = {
        r["dag_run_id"] for r in airflow_api.dag_runs(live.airflow, config.REALTIME_DAG_ID)
    }
    streams = csvs(data, "streams")
    with ThreadPoolExecutor(max_workers=10) as pool:  # uploaded concurrently, as a burst
        ids = list(pool.map(lambda p: live.upload(f"streams/burst/{p.name}", p), streams))
    runs = live.wait(ids, timeout=900)
    assert {r["state"] for r in runs} == {"success"}
    items = assert_nothing_lost(live, ids)
    batches = {i["batch_id"] for i in items}
    new_runs = {
        r["dag_run_id"] for r in airflow_api.dag_runs(live.airflow, config.REALTIME_DAG_ID)
    } - runs_before
    assert len(batches) <= 5, f"30 files took {len(batches)} batches"
    assert len(new_runs) <= len(batches) + 3, f"{len(new_runs)} DAG runs for {len(batches)} batches"
    expected = expected_items(streams, csvs(ref, "songs"), csvs(ref, "users"))
    assert kpi_items_only(live.kpi_items(days_from("2040-01-01"))) == expected


def test_a_corrected_reupload_replaces_the_rows_of_the_version_it_supersedes(live, ref, tmp_path):
    # same catalogue (seed), other plays: the same key uploaded with other content
    first = generate(tmp_path / "v1", "2041-01-01", seed=SEED, streams=2000)
    fixed = generate(tmp_path / "v2", "2041-01-01", seed=SEED, streams=1200)
    v1 = live.upload("streams/daily_export.csv", csvs(first, "streams")[0])
    live.wait([v1])
    v2 = live.upload("streams/daily_export.csv", csvs(fixed, "streams")[0])
    live.wait([v2])
    assert v1 != v2
    assert_nothing_lost(live, [v1, v2])
    expected = expected_items(csvs(fixed, "streams"), csvs(ref, "songs"), csvs(ref, "users"))
    assert kpi_items_only(live.kpi_items(days_from("2041-01-01"))) == expected

    # uploaded twice more while a run is busy: only the newest upload counts in the end
    third = generate(tmp_path / "v3", "2041-01-01", seed=SEED, streams=1600)
    v3 = live.upload("streams/daily_export.csv", csvs(first, "streams")[0])
    v4 = live.upload("streams/daily_export.csv", csvs(third, "streams")[0])
    live.wait([v3, v4])
    assert_nothing_lost(live, [v3, v4])
    expected = expected_items(csvs(third, "streams"), csvs(ref, "songs"), csvs(ref, "users"))
    assert kpi_items_only(live.kpi_items(days_from("2041-01-01"))) == expected


def test_a_multipart_upload_is_archived_and_verified(live, ref, tmp_path):
    data = generate(tmp_path / "big", "2042-01-01", seed=SEED, streams=250_000)
    path = csvs(data, "streams")[0]
    assert path.stat().st_size > 8 * 1024 * 1024
    small_parts = TransferConfig(
        multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024
    )
    file_id = live.upload("streams/big.csv", path, Config=small_parts)
    head = live.s3.head_object(Bucket=live["raw_data_bucket"], Key="streams/big.csv")
    assert "-" in head["ETag"], "not a multipart upload"
    live.wait([file_id], timeout=900)
    [item] = assert_nothing_lost(live, [file_id])
    bucket, key = layout.split_s3_url(item["archived_to"])
    assert live.s3.get_object(Bucket=bucket, Key=key)["Body"].read() == path.read_bytes()
    expected = expected_items([path], csvs(ref, "songs"), csvs(ref, "users"))
    assert kpi_items_only(live.kpi_items(days_from("2042-01-01"))) == expected


def test_a_glue_run_killed_during_archiving_is_repaired_by_the_retry(live, ref, tmp_path):
    data = generate(tmp_path / "s", "2043-01-01", seed=SEED, streams=2400, files=12)
    etl_job = str(config.VARIABLE_DEFAULTS["etl_job_name"])
    ids = [live.upload(f"streams/kill/{p.name}", p) for p in csvs(data, "streams")]

    killed, running_since = None, {}
    deadline = time.monotonic() + 600
    while killed is None and time.monotonic() < deadline:
        groups = live.glue_call("GetRunProcesses", {"JobName": etl_job})["Processes"]
        for run in live.glue_call("GetJobRuns", {"JobName": etl_job})["JobRuns"]:
            if (
                run["Arguments"].get("--task_type") != "archiving_only"
                or run["JobRunState"] != "RUNNING"
                or not groups.get(run["Id"])
            ):
                continue
            since = running_since.setdefault(run["Id"], time.monotonic())
            archived = sum(live.ledger.get(f)["state"] == file_ledger.ARCHIVED for f in ids)
            if archived or time.monotonic() - since > 1.5:  # mid-way through the files
                os.killpg(groups[run["Id"]], signal.SIGKILL)  # kill -9
                killed = run["Id"]
                break
        time.sleep(0.02)
    assert killed, "the archiving run was never caught running"
    runs = live.wait(ids, timeout=600)
    assert {r["state"] for r in runs} == {"success"}
    glue = boto3.client("glue", endpoint_url=live.cfg.glue_endpoint)
    assert glue.get_job_run(JobName=etl_job, RunId=killed)["JobRun"]["JobRunState"] == "FAILED"
    assert max(live.task_states(r)["archive_processed_files"][1] for r in runs) >= 2
    assert_nothing_lost(live, ids)
    expected = expected_items(csvs(data, "streams"), csvs(ref, "songs"), csvs(ref, "users"))
    assert kpi_items_only(live.kpi_items(days_from("2043-01-01"))) == expected


def test_both_dags_on_the_same_files_never_share_one(live, ref, tmp_path):
    data = generate(tmp_path / "s", "2044-01-01", seed=SEED, files=4)
    live.run_daily_dag_on_new_files()
    ids = [live.upload(f"streams/both/{p.name}", p) for p in csvs(data, "streams")]
    daily = airflow_api.trigger(live.airflow, config.DAILY_DAG_ID, "daily-beside-realtime", {})
    airflow_api.wait_for_run(live.airflow, config.DAILY_DAG_ID, daily["dag_run_id"], 900)
    live.wait(ids, timeout=900)
    live.pause_letting_runs_finish(config.DAILY_DAG_ID)
    items = assert_nothing_lost(live, ids)
    for item in items:  # claimed once: one batch in its history
        assert len({h.get("batch_id") for h in item["history"] if h.get("batch_id")}) == 1
    expected = expected_items(csvs(data, "streams"), csvs(ref, "songs"), csvs(ref, "users"))
    assert kpi_items_only(live.kpi_items(days_from("2044-01-01"))) == expected


def test_ignored_uploads_are_recorded_and_csv_in_capitals_is_taken(live, ref, tmp_path):
    data = generate(tmp_path / "s", "2045-01-01", seed=SEED)
    taken = live.upload("streams/EXPORT.CSV", csvs(data, "streams")[0])
    ignored = [
        live.upload(key, csvs(data, "streams")[0])
        for key in ("streams/export.csv.gz", "misc/notes.csv", "streams/readme.txt")
    ]
    live.wait([taken, *ignored])
    assert_nothing_lost(live, [taken])
    reasons = {live.ledger.get(f)["key"]: live.ledger.get(f)["reason"] for f in ignored}
    assert {k: live.ledger.get(f)["state"] for k, f in zip(reasons, ignored)} == dict.fromkeys(
        reasons, "IGNORED"
    )
    assert "compressed" in reasons["streams/export.csv.gz"]
    assert "outside" in reasons["misc/notes.csv"]
    expected = expected_items(csvs(data, "streams"), csvs(ref, "songs"), csvs(ref, "users"))
    assert kpi_items_only(live.kpi_items(days_from("2045-01-01"))) == expected


def test_an_emulator_restart_in_the_middle_of_a_run_ends_right(live, ref, tmp_path):
    """MiniStack (S3, DynamoDB, Lambda; state persisted) restarts while full_etl runs: the run
    fails on the lost connection, Airflow retries it, and the data ends exactly right."""
    data = generate(tmp_path / "s", "2046-01-01", seed=SEED, files=2)
    etl_job = str(config.VARIABLE_DEFAULTS["etl_job_name"])
    ids = [live.upload(f"streams/restart/{p.name}", p) for p in csvs(data, "streams")]
    batch = None
    deadline = time.monotonic() + 600
    while batch is None and time.monotonic() < deadline:
        for run in live.glue_call("GetJobRuns", {"JobName": etl_job})["JobRuns"]:
            if (
                run["Arguments"].get("--task_type") == "full_etl"
                and run["JobRunState"] == "RUNNING"
                and run["Arguments"]["--batch_id"] == live.ledger.get(ids[0]).get("batch_id")
            ):
                batch = run["Arguments"]["--batch_id"]
        time.sleep(0.2)
    assert batch, "full_etl of the batch was never seen running"
    time.sleep(3)  # into the Spark work
    ministack = next(c for c in stack.components(live.cfg) if c.name == "ministack")
    pid = stack.pid_of(ministack, live.cfg)
    stopped_at = time.monotonic()
    os.killpg(pid, signal.SIGTERM)  # a restart (its state is saved), not a crash
    stack.wait_for("ministack to stop", lambda: stack.pid_of(ministack, live.cfg) is None, 30)
    stack.start(ministack, live.cfg)
    stack.wait_for(
        "ministack", lambda: stack.http_ok(ministack.health_url), 60, ministack, live.cfg
    )
    print(f"ministack was down {time.monotonic() - stopped_at:.1f} s")
    runs = live.wait(ids, timeout=900)
    assert {r["state"] for r in runs} == {"success"}
    assert_nothing_lost(live, ids)
    expected = expected_items(csvs(data, "streams"), csvs(ref, "songs"), csvs(ref, "users"))
    assert kpi_items_only(live.kpi_items(days_from("2046-01-01"))) == expected
