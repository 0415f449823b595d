"""Every reply and error of the local Glue API, raw, against botocore's model of Glue: the
operations the provider, the AWS CLI and tools that list or plan Glue resources call."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from service_model import Checked, model, problems
from test_local_services import GUARD, job, serve, wait_done

from devstack.services import http_api
from devstack.services.glue import catalog as glue_catalog
from devstack.services.glue import responses
from devstack.services.glue.server import create_backend

pytestmark = pytest.mark.integration

BOOKMARKING = (
    "import json, os\n"
    "state = {'ctx': {'high': 1.0, 'recent': {}}}\n"
    "open(os.environ['LOCAL_GLUE_JOB_BOOKMARK'] + '.commit', 'w').write(json.dumps(state))\n"
)


@pytest.fixture
def checked_glue(endpoint, tmp_path):
    backend = create_backend(tmp_path, endpoint)
    checked = Checked(
        "glue",
        responses.service(responses.GlueResponses(backend), glue_catalog.Catalog(tmp_path)),
        "AWSGlue.",
    )
    handler = http_api.handler_class(
        checked,
        lambda: {"status": "healthy"},
        "application/x-amz-json-1.1",
        "InvalidInputException",
        GUARD("glue"),
    )
    url, server = serve(handler)
    yield boto3.client("glue", endpoint_url=url), checked
    server.shutdown()


def test_the_checker_finds_what_the_model_lacks():
    output = model("glue").operation_model("GetJobRun").output_shape
    found = problems(output, {"JobRun": {"Id": "jr", "JobRunState": "DONE", "ProcessGroup": 7}})
    assert found == [
        "GetJobRunResponse.JobRun.ProcessGroup: not in the model",
        "GetJobRunResponse.JobRun.JobRunState: 'DONE' is not one of "
        + str(model("glue").shape_for("JobRunState").enum),
    ]


def test_every_reply_is_as_glues_model_has_it(checked_glue, script_bucket):
    glue, checked = checked_glue
    s3 = boto3.client("s3")
    s3.put_object(Bucket=script_bucket, Key="bookmark.py", Body=BOOKMARKING.encode())
    job(glue, script_bucket, "echo", "echo.py", Tags={"team": "data"}, MaxRetries=0)
    job(glue, script_bucket, "marks", "bookmark.py")
    assert "Tags" not in json.dumps(glue.get_job(JobName="echo")["Job"], default=str)
    assert sorted(glue.list_jobs()["JobNames"]) == ["echo", "marks"]
    assert glue.list_jobs(MaxResults=1)["NextToken"]
    got = glue.batch_get_jobs(JobNames=["echo", "nope"])
    assert [j["Name"] for j in got["Jobs"]] == ["echo"] and got["JobsNotFound"] == ["nope"]
    glue.get_jobs()
    glue.update_job(
        JobName="echo",
        JobUpdate={
            "Role": "r",
            "Command": {"Name": "pythonshell", "ScriptLocation": f"s3://{script_bucket}/echo.py"},
        },
    )

    run_id = glue.start_job_run(JobName="echo")["JobRunId"]
    glue.get_job_run(JobName="echo", RunId=run_id)
    stopped = glue.batch_stop_job_run(JobName="echo", JobRunIds=[run_id, "jr_missing"])
    assert [s["JobRunId"] for s in stopped["SuccessfulSubmissions"]] == [run_id]
    assert stopped["Errors"][0]["ErrorDetail"]["ErrorCode"] == "EntityNotFoundException"
    assert wait_done(glue, "echo", run_id)["JobRunState"] == "STOPPED"
    glue.get_job_runs(JobName="echo")

    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_job_bookmark(JobName="marks")
    marked = glue.start_job_run(
        JobName="marks", Arguments={"--job-bookmark-option": "job-bookmark-enable"}
    )["JobRunId"]
    assert wait_done(glue, "marks", marked)["JobRunState"] == "SUCCEEDED"
    entry = glue.get_job_bookmark(JobName="marks")["JobBookmarkEntry"]
    assert (entry["RunId"], entry["Version"], json.loads(entry["JobBookmark"])["ctx"]["high"]) == (
        marked,
        1,
        1.0,
    )
    reset = glue.reset_job_bookmark(JobName="marks")["JobBookmarkEntry"]
    assert json.loads(reset["JobBookmark"]) == {} and reset["Version"] == 2

    glue.create_connection(
        ConnectionInput={
            "Name": "pg",
            "ConnectionType": "JDBC",
            "ConnectionProperties": {
                "JDBC_CONNECTION_URL": "jdbc:postgresql://db:5432/x",
                "USERNAME": "u",
                "PASSWORD": "p",
            },
        }
    )
    assert (
        "PASSWORD"
        not in glue.get_connection(Name="pg", HidePassword=True)["Connection"][
            "ConnectionProperties"
        ]
    )
    assert [
        c["Name"] for c in glue.get_connections(Filter={"ConnectionType": "JDBC"})["ConnectionList"]
    ] == ["pg"]
    with pytest.raises(glue.exceptions.AlreadyExistsException):
        glue.create_connection(
            ConnectionInput={"Name": "pg", "ConnectionType": "JDBC", "ConnectionProperties": {}}
        )
    glue.delete_connection(ConnectionName="pg")
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_connection(Name="pg")
    assert glue.get_triggers()["Triggers"] == []
    assert glue.get_security_configurations()["SecurityConfigurations"] == []

    glue.create_database(DatabaseInput={"Name": "db"})
    glue.get_database(Name="db")
    glue.get_databases()
    table = {
        "Name": "t",
        "PartitionKeys": [{"Name": "day", "Type": "string"}],
        "StorageDescriptor": {
            "Columns": [{"Name": "x", "Type": "bigint"}],
            "Location": "s3://b/t/",
        },
        "Parameters": {"classification": "parquet"},
    }
    glue.create_table(DatabaseName="db", TableInput=table)
    glue.update_table(DatabaseName="db", TableInput=table)
    glue.get_table(DatabaseName="db", Name="t")
    glue.get_tables(DatabaseName="db")
    part = {"Values": ["2024-01-01"], "StorageDescriptor": {"Location": "s3://b/t/day=2024-01-01/"}}
    glue.create_partition(DatabaseName="db", TableName="t", PartitionInput=part)
    assert glue.batch_create_partition(DatabaseName="db", TableName="t", PartitionInputList=[part])[
        "Errors"
    ]
    glue.get_partition(DatabaseName="db", TableName="t", PartitionValues=["2024-01-01"])
    glue.get_partitions(DatabaseName="db", TableName="t")
    glue.batch_delete_partition(
        DatabaseName="db", TableName="t", PartitionsToDelete=[{"Values": ["2024-01-01"]}]
    )
    glue.delete_table(DatabaseName="db", Name="t")
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_table(DatabaseName="db", Name="t")
    glue.delete_database(Name="db")
    glue.delete_job(JobName="echo")
    time.sleep(0.1)

    assert checked.found == []
    assert len(checked.seen) == 33, sorted(checked.seen)  # each operation above, checked
