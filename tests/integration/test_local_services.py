"""The local Glue and MWAA APIs through boto3, as the Amazon provider and the Lambda call them:
request/response shapes, Glue's error types, run states, logs in CloudWatch."""

from __future__ import annotations

import os
import threading
import time
from http.server import ThreadingHTTPServer

import boto3
import pytest

from devstack.core import emulator, local_glue
from devstack.runtime.stack import free_port
from devstack.services import http_api
from devstack.services.glue import catalog as glue_catalog
from devstack.services.glue import models as glue_models
from devstack.services.glue import responses as glue_responses
from devstack.services.glue.server import create_backend
from music_streaming import catalog, config

pytestmark = pytest.mark.integration


def GUARD(signing_name: str, unsigned_paths: tuple[str, ...] = ()) -> http_api.Guard:
    return http_api.Guard(
        signing_name,
        config.DEFAULT_REGION,
        (emulator.LOCAL_SECRET_KEY,),
        unsigned_paths=unsigned_paths,
    )


def serve(handler_class) -> tuple[str, ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler_class)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


@pytest.fixture
def glue(endpoint, tmp_path):
    url, server = serve(
        glue_responses.handler_class(
            create_backend(tmp_path, endpoint), glue_catalog.Catalog(tmp_path), GUARD("glue")
        )
    )
    yield boto3.client("glue", endpoint_url=url)
    server.shutdown()


def job(glue, bucket, name, script, **extra):
    glue.create_job(
        Name=name,
        Role="arn:aws:iam::000000000000:role/glue",
        Command={
            "Name": "pythonshell",
            "ScriptLocation": f"s3://{bucket}/{script}",
            "PythonVersion": "3.9",
        },
        DefaultArguments={"--from_job": "default", "--override": "job"},
        **extra,
    )


def wait_done(glue, name, run_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = glue.get_job_run(JobName=name, RunId=run_id)["JobRun"]
        if run["JobRunState"] not in glue_models.ACTIVE:
            return run
        time.sleep(0.3)
    raise TimeoutError(run_id)


def test_glue_errors_have_glue_shapes(glue, script_bucket):
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_job(JobName="missing")
    job(glue, script_bucket, "dup", "echo.py")
    with pytest.raises(glue.exceptions.AlreadyExistsException):
        job(glue, script_bucket, "dup", "echo.py")
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_job_run(JobName="dup", RunId="jr_nope")


def test_run_merges_arguments_limits_concurrency_and_ships_logs(glue, script_bucket):
    job(glue, script_bucket, "echo", "echo.py", ExecutionProperty={"MaxConcurrentRuns": 1})
    run_id = glue.start_job_run(JobName="echo", Arguments={"--override": "run"})["JobRunId"]
    with pytest.raises(glue.exceptions.ConcurrentRunsExceededException):
        glue.start_job_run(JobName="echo")
    run = wait_done(glue, "echo", run_id)
    assert run["JobRunState"] == "SUCCEEDED" and run["LogGroupName"] == "/aws-glue/jobs"
    assert run["Arguments"] == {"--from_job": "default", "--override": "run"}
    events = boto3.client("logs").filter_log_events(
        logGroupName="/aws-glue/jobs/output", logStreamNames=[run_id]
    )["events"]
    printed = " ".join(e["message"] for e in events)
    assert "'--from_job', 'default'" in printed and "'--override', 'run'" in printed
    assert f"'--JOB_RUN_ID', '{run_id}'" in printed
    assert [r["Id"] for r in glue.get_job_runs(JobName="echo")["JobRuns"]] == [run_id]


def test_arguments_over_glues_260_kb_are_refused_as_glue_refuses_them(glue, script_bucket):
    job(glue, script_bucket, "big", "echo.py")
    with pytest.raises(glue.exceptions.InvalidInputException, match="260KB"):
        glue.start_job_run(JobName="big", Arguments={"--files": "x" * (261 * 1024)})
    assert glue.get_job_runs(JobName="big")["JobRuns"] == []
    assert glue.start_job_run(JobName="big", Arguments={"--files": "x" * (200 * 1024)})


def test_failed_run_reports_the_error(glue, script_bucket):
    job(glue, script_bucket, "fails", "fail.py")
    run = wait_done(glue, "fails", glue.start_job_run(JobName="fails")["JobRunId"])
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "ValueError: bad input row 7"


def test_stop_and_update(glue, script_bucket):
    job(glue, script_bucket, "slow", "slow.py")
    run_id = glue.start_job_run(JobName="slow")["JobRunId"]
    time.sleep(1.5)
    reply = glue.batch_stop_job_run(JobName="slow", JobRunIds=[run_id, "jr_unknown"])
    assert [s["JobRunId"] for s in reply["SuccessfulSubmissions"]] == [run_id]
    assert reply["Errors"][0]["JobRunId"] == "jr_unknown"
    assert wait_done(glue, "slow", run_id)["JobRunState"] == "STOPPED"
    glue.update_job(
        JobName="slow",
        JobUpdate={
            "Role": "r",
            "Command": {"Name": "pythonshell", "ScriptLocation": "s3://x/y.py"},
            "Timeout": 5,
        },
    )
    updated = glue.get_job(JobName="slow")["Job"]
    assert updated["Timeout"] == 5 and "DefaultArguments" not in updated  # replaced, as in Glue


def test_catalog_tables_and_partitions_through_boto3(glue, tmp_path):
    """The pipeline's database and tables as the bootstrap creates them, partitions as the ETL
    job registers them (a re-registration is an error entry, not a failure), paged reads."""
    glue.create_database(DatabaseInput=catalog.database_input())
    with pytest.raises(glue.exceptions.AlreadyExistsException):
        glue.create_database(DatabaseInput=catalog.database_input())
    for table in catalog.TABLES:
        glue.create_table(
            DatabaseName=catalog.DATABASE, TableInput=catalog.table_input(table, "processed")
        )
    tables = glue.get_tables(DatabaseName=catalog.DATABASE)["TableList"]
    assert [t["Name"] for t in tables] == sorted(catalog.TABLES)
    streams = glue.get_table(DatabaseName=catalog.DATABASE, Name="streams")["Table"]
    assert [k["Name"] for k in streams["PartitionKeys"]] == ["date", "batch_id", "genre"]
    assert streams["StorageDescriptor"]["Location"] == "s3://processed/processed_data/"

    prefixes = [f"processed_data/date=2030-01-01/batch_id=b1/genre=g{i}/" for i in range(3)]
    inputs = [catalog.partition_input("streams", "processed", p) for p in prefixes]
    args = {"DatabaseName": catalog.DATABASE, "TableName": "streams"}
    assert glue.batch_create_partition(**args, PartitionInputList=inputs[:2])["Errors"] == []
    again = glue.batch_create_partition(**args, PartitionInputList=inputs)["Errors"]
    assert [e["ErrorDetail"]["ErrorCode"] for e in again] == ["AlreadyExistsException"] * 2
    pages = glue.get_paginator("get_partitions").paginate(**args, PaginationConfig={"PageSize": 2})
    partitions = [p for page in pages for p in page["Partitions"]]
    assert [p["Values"][2] for p in partitions] == ["g0", "g1", "g2"]
    assert partitions[1]["StorageDescriptor"]["Location"] == "s3://processed/" + prefixes[1]
    with pytest.raises(glue.exceptions.InvalidInputException, match="3 partition keys"):
        glue.get_partition(**args, PartitionValues=["2030-01-01"])
    chosen = glue.get_partitions(
        **args, Expression="genre IN ('g0', 'g2') AND NOT batch_id <> 'b1'"
    )
    assert [p["Values"][2] for p in chosen["Partitions"]] == ["g0", "g2"]
    segments = [
        [p["Values"][2] for p in glue.get_partitions(**args, Segment=segment)["Partitions"]]
        for segment in ({"SegmentNumber": n, "TotalSegments": 2} for n in range(2))
    ]
    assert sorted(sum(segments, [])) == ["g0", "g1", "g2"] and all(segments)
    with pytest.raises(glue.exceptions.InvalidInputException, match="Unknown column 'day'"):
        glue.get_partitions(**args, Expression="day = '2030-01-01'")
    assert [
        t["Name"]
        for t in glue.get_tables(DatabaseName=catalog.DATABASE, Expression="s.*")["TableList"]
    ] == sorted(t for t in catalog.TABLES if t.startswith("s"))
    glue.batch_delete_partition(**args, PartitionsToDelete=[{"Values": inputs[0]["Values"]}])
    assert len(glue.get_partitions(**args)["Partitions"]) == 2

    # the catalog survives a restart of the service (its state file)
    assert len(glue_catalog.Catalog(tmp_path).GetPartitions(args)["Partitions"]) == 2
    glue.delete_table(DatabaseName=catalog.DATABASE, Name="streams")
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_partitions(**args)


def test_restarted_service_stops_the_runs_it_left_behind(endpoint, script_bucket, tmp_path):
    """A run's process lives in its own session; a restarted service must not leave it running
    beside Airflow's retry of the same run."""
    jobs = create_backend(tmp_path, endpoint)
    url, server = serve(
        glue_responses.handler_class(jobs, glue_catalog.Catalog(tmp_path), GUARD("glue"))
    )
    client = boto3.client("glue", endpoint_url=url)
    job(client, script_bucket, "orphan", "slow.py")
    run_id = client.start_job_run(JobName="orphan")["JobRunId"]
    deadline = time.monotonic() + 30
    while run_id not in jobs.processes and time.monotonic() < deadline:
        time.sleep(0.2)
    group = jobs.processes[run_id]["group"]
    raw = local_glue.call(
        url, config.DEFAULT_REGION, "GetJobRun", {"JobName": "orphan", "RunId": run_id}
    )
    assert "ProcessGroup" not in raw["JobRun"]  # the service's own detail, not Glue's shape
    server.shutdown()  # the service dies; its run's process does not

    restarted = create_backend(tmp_path, endpoint)
    run = restarted.runs["orphan"][run_id]
    assert run["JobRunState"] == "FAILED" and "restarted" in run["ErrorMessage"]
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)
