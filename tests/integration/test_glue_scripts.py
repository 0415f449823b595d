"""Glue scripts as Glue Studio and AWS's documentation write them, run as Glue runs them: through
the local Glue API (a glueetl run, Spark, S3A to the emulator, the catalog in the same API), with
the stack's awsglue."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pytest
from test_local_services import GUARD, serve, wait_done

from devstack.services.glue import catalog as glue_catalog
from devstack.services.glue import responses
from devstack.services.glue.server import create_backend

pytestmark = pytest.mark.integration

STUDIO_SCRIPT = """
import sys
from awsglue.transforms import *
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext
from awsglue.context import GlueContext
from awsglue.job import Job

args = getResolvedOptions(sys.argv, ["JOB_NAME", "out"])
sc = SparkContext.getOrCreate()
glueContext = GlueContext(sc)
spark = glueContext.spark_session
job = Job(glueContext)
job.init(args["JOB_NAME"], args)

# Script generated for node Data Catalog table
DataCatalogtable_node1 = glueContext.create_dynamic_frame.from_catalog(
    database="studio", table_name="plays_csv", push_down_predicate="day >= '2024-01-02'",
    transformation_ctx="DataCatalogtable_node1",
)
DataCatalogtable_node1.printSchema()

# Script generated for node Change Schema
ChangeSchema_node2 = ApplyMapping.apply(
    frame=DataCatalogtable_node1,
    mappings=[
        ("track", "string", "track", "string"),
        ("genre", "string", "genre", "string"),
        ("plays", "long", "plays", "long"),
        ("seconds", "string", "seconds", "string"),
        ("day", "string", "day", "string"),
    ],
    transformation_ctx="ChangeSchema_node2",
)

# Script generated for node Resolve Choice
ResolveChoice_node3 = ResolveChoice.apply(
    frame=ChangeSchema_node2, specs=[("seconds", "cast:double")], transformation_ctx="ResolveChoice_node3"
)

# Script generated for node Amazon S3
AmazonS3_node4 = glueContext.getSink(
    path=args["out"], connection_type="s3", updateBehavior="UPDATE_IN_DATABASE",
    partitionKeys=["genre"], enableUpdateCatalog=True, transformation_ctx="AmazonS3_node4",
)
AmazonS3_node4.setCatalogInfo(catalogDatabase="studio", catalogTableName="plays_parquet")
AmazonS3_node4.setFormat("glueparquet", compression="snappy")
AmazonS3_node4.writeFrame(ResolveChoice_node3)
job.commit()
"""

BOOKMARKED_SCRIPT = """
import sys
from awsglue.context import GlueContext
from awsglue.job import Job
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext

args = getResolvedOptions(sys.argv, ["JOB_NAME", "source", "fail"])
glueContext = GlueContext(SparkContext.getOrCreate())
job = Job(glueContext)
job.init(args["JOB_NAME"], args)
frame = glueContext.create_dynamic_frame.from_options(
    connection_type="s3", connection_options={"paths": [args["source"]]}, format="json",
    transformation_ctx="source_node",
)
print("READ", sorted(r["n"] for r in frame.toDF().collect()), flush=True)
job.commit()
if args["fail"] == "yes":
    raise RuntimeError("failed after its commit")
"""


@pytest.fixture
def glue_api(endpoint, tmp_path):
    backend = create_backend(tmp_path, endpoint)
    url, server = serve(
        responses.handler_class(backend, glue_catalog.Catalog(tmp_path), GUARD("glue"))
    )
    backend.supervisor.glue_endpoint = url  # the runs' catalog calls come back here
    yield boto3.client("glue", endpoint_url=url), tmp_path
    server.shutdown()


@pytest.fixture
def bucket(endpoint):
    name = f"glue-scripts-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def glueetl(glue, bucket: str, name: str, script: str) -> None:
    boto3.client("s3").put_object(Bucket=bucket, Key=f"scripts/{name}.py", Body=script.encode())
    glue.create_job(
        Name=name,
        Role="arn:aws:iam::000000000000:role/glue",
        Command={"Name": "glueetl", "ScriptLocation": f"s3://{bucket}/scripts/{name}.py"},
        GlueVersion="5.0",
    )


def run(glue, name: str, state_dir: Path, **arguments) -> str:
    run_id = glue.start_job_run(JobName=name, Arguments=arguments)["JobRunId"]
    done = wait_done(glue, name, run_id, timeout=240)
    output = (state_dir / "runs" / run_id / "stdout.log").read_text()
    assert done["JobRunState"] in ("SUCCEEDED", "FAILED"), done
    return done["JobRunState"], output


def test_a_glue_studio_script_reads_the_catalog_and_writes_partitions_it_registers(
    glue_api, bucket
):
    glue, state_dir = glue_api
    s3 = boto3.client("s3")
    rows = {
        "2024-01-01": "track,genre,plays,seconds\nold,rock,1,10\n",
        "2024-01-02": "track,genre,plays,seconds\na,rock,5,180.5\nb,jazz,n/a,200\nc,rock,7,\n",
    }
    glue.create_database(DatabaseInput={"Name": "studio"})
    glue.create_table(
        DatabaseName="studio",
        TableInput={
            "Name": "plays_csv",
            "PartitionKeys": [{"Name": "day", "Type": "string"}],
            "Parameters": {"classification": "csv", "skip.header.line.count": "1"},
            "StorageDescriptor": {
                "Columns": [
                    {"Name": n, "Type": t}
                    for n, t in (
                        ("track", "string"),
                        ("genre", "string"),
                        ("plays", "bigint"),
                        ("seconds", "double"),
                    )
                ],
                "Location": f"s3://{bucket}/plays/",
                "SerdeInfo": {
                    "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                    "Parameters": {"field.delim": ","},
                },
            },
        },
    )
    for day, body in rows.items():
        s3.put_object(Bucket=bucket, Key=f"plays/day={day}/part.csv", Body=body.encode())
        glue.create_partition(
            DatabaseName="studio",
            TableName="plays_csv",
            PartitionInput={
                "Values": [day],
                "StorageDescriptor": {"Location": f"s3://{bucket}/plays/day={day}/"},
            },
        )
    glueetl(glue, bucket, "studio_job", STUDIO_SCRIPT)
    state, output = run(glue, "studio_job", state_dir, **{"--out": f"s3://{bucket}/out/"})
    assert state == "SUCCEEDED", output
    (studio_run,) = glue.get_job_runs(JobName="studio_job")["JobRuns"]
    driver_log = boto3.client("logs").describe_log_streams(
        logGroupName="/aws-glue/jobs/logs-v2", logStreamNamePrefix=studio_run["Id"]
    )
    assert [s["logStreamName"] for s in driver_log["logStreams"]] == [studio_run["Id"]]
    # the catalog's bigint does not hide a value that is not a number: plays is a choice
    assert "|-- plays: choice\n|    |-- long\n|    |-- string\n" in output

    table = glue.get_table(DatabaseName="studio", Name="plays_parquet")["Table"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["genre"]
    assert {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]} == {
        "track": "string",
        "plays": "bigint",
        "seconds": "double",
        "day": "string",
    }
    partitions = glue.get_partitions(DatabaseName="studio", TableName="plays_parquet")["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == ["jazz", "rock"]
    written = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix="out/")["Contents"]
        if o["Key"].endswith(".parquet")
    ]
    assert {k.split("/")[1] for k in written} == {"genre=jazz", "genre=rock"}  # day 1 pruned


def test_a_bookmarked_job_reads_new_files_only_pause_keeps_and_reset_rereads(glue_api, bucket):
    glue, state_dir = glue_api
    s3 = boto3.client("s3")
    source = f"s3://{bucket}/events/"

    def upload(n: int) -> None:
        s3.put_object(Bucket=bucket, Key=f"events/{n}.json", Body=json.dumps({"n": n}).encode())

    def read(option: str, fail: str = "no") -> tuple[str, str]:
        state, output = run(
            glue,
            "marks",
            state_dir,
            **{"--source": source, "--fail": fail, "--job-bookmark-option": option},
        )
        return state, next(line for line in output.splitlines() if line.startswith("READ"))

    glueetl(glue, bucket, "marks", BOOKMARKED_SCRIPT)
    upload(1)
    upload(2)
    assert read("job-bookmark-enable") == ("SUCCEEDED", "READ [1, 2]")
    upload(3)
    assert read("job-bookmark-enable", fail="yes") == ("FAILED", "READ [3]")  # does not move it
    assert read("job-bookmark-enable") == ("SUCCEEDED", "READ [3]")
    upload(4)
    assert read("job-bookmark-pause") == ("SUCCEEDED", "READ [4]")
    assert read("job-bookmark-enable") == ("SUCCEEDED", "READ [4]")  # pause did not move it
    assert read("job-bookmark-enable") == ("SUCCEEDED", "READ []")
    entry = glue.get_job_bookmark(JobName="marks")["JobBookmarkEntry"]
    assert entry["Run"] == 4 and "source_node" in json.loads(entry["JobBookmark"])
    glue.reset_job_bookmark(JobName="marks")
    assert read("job-bookmark-enable") == ("SUCCEEDED", "READ [1, 2, 3, 4]")
