"""The local Athena API through boto3, over the local Glue API's catalog and S3 in the emulator:
DDL keeps the catalog in step, queries read the partitions the catalog lists, results land where
Athena writes them, errors carry Athena's codes; every reply checked against botocore's model."""

from __future__ import annotations

import csv
import io
import time
import uuid

import boto3
import duckdb
import pytest
from service_model import Checked
from test_local_services import GUARD, serve

from devstack.services import http_api
from devstack.services.athena import responses as athena_responses
from devstack.services.athena.server import create_backend as athena_backend
from devstack.services.glue import catalog as glue_catalog
from devstack.services.glue import responses as glue_responses
from devstack.services.glue.server import create_backend as glue_backend

pytestmark = pytest.mark.integration


@pytest.fixture
def athena(endpoint, tmp_path):
    glue_url, glue_server = serve(
        glue_responses.handler_class(
            glue_backend(tmp_path / "glue", endpoint),
            glue_catalog.Catalog(tmp_path / "glue"),
            GUARD("glue"),
        )
    )
    backend = athena_backend(tmp_path / "athena", endpoint, glue_url)
    checked = Checked(
        "athena",
        athena_responses.service(athena_responses.AthenaResponses(backend)),
        "AmazonAthena.",
    )
    handler = http_api.handler_class(
        checked,
        lambda: {},
        "application/x-amz-json-1.1",
        "InvalidRequestException",
        GUARD("athena"),
    )
    url, server = serve(handler)
    yield boto3.client("athena", endpoint_url=url), boto3.client("glue", endpoint_url=glue_url)
    server.shutdown()
    glue_server.shutdown()
    assert checked.found == []


@pytest.fixture
def bucket():
    name = f"athena-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def query(athena, sql: str, bucket: str, database: str = "default", **extra) -> dict:
    query_id = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": database, "Catalog": "AwsDataCatalog"},
        ResultConfiguration={"OutputLocation": f"s3://{bucket}/"},
        WorkGroup="primary",
        **extra,
    )["QueryExecutionId"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        if execution["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return execution
        time.sleep(0.1)
    raise AssertionError(f"query {query_id} still running: {sql}")


def rows(athena, query_id: str, **extra) -> list[list[str | None]]:
    pages = athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id, **extra)
    return [
        [d.get("VarCharValue") for d in r["Data"]] for p in pages for r in p["ResultSet"]["Rows"]
    ]


def test_the_providers_example_create_read_drop(athena, bucket):
    """As example_athena.py runs it: a LazySimpleSerDe table over a CSV, its location with a
    double slash, SELECT *, the result CSV read from S3 by the query id."""
    client, glue = athena
    s3 = boto3.client("s3")
    s3.put_object(
        Bucket=bucket, Key="people/airflow_sample.csv", Body=b'"Alice",20\n"Bob",25\n"Charlie",x\n'
    )
    assert (
        query(client, "CREATE DATABASE IF NOT EXISTS example_db", bucket)["Status"]["State"]
        == "SUCCEEDED"
    )
    created = query(
        client,
        "CREATE EXTERNAL TABLE IF NOT EXISTS example_db.people ( `name` string, `age` int ) "
        'ROW FORMAT SERDE "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe" WITH SERDEPROPERTIES '
        f'( "serialization.format" = ",", "field.delim" = "," ) LOCATION "s3://{bucket}//people" '
        'TBLPROPERTIES ("has_encrypted_data"="false")',
        bucket,
        "example_db",
    )
    assert created["Status"]["State"] == "SUCCEEDED", created["Status"]
    assert created["StatementType"] == "DDL"
    table = glue.get_table(DatabaseName="example_db", Name="people")["Table"]
    assert table["TableType"] == "EXTERNAL_TABLE" and table["Parameters"]["EXTERNAL"] == "TRUE"
    assert table["StorageDescriptor"]["Location"] == f"s3://{bucket}/people/"

    read = query(client, "SELECT * from example_db.people", bucket, "example_db")
    assert read["Status"]["State"] == "SUCCEEDED", read["Status"]
    assert (
        read["ResultConfiguration"]["OutputLocation"]
        == f"s3://{bucket}/{read['QueryExecutionId']}.csv"
    )
    body = (
        s3.get_object(Bucket=bucket, Key=f"{read['QueryExecutionId']}.csv")["Body"].read().decode()
    )
    assert body.splitlines()[0] == '"name","age"'
    assert list(csv.reader(io.StringIO(body)))[1:] == [
        ['"Alice"', "20"],
        ['"Bob"', "25"],
        ['"Charlie"', ""],
    ]
    assert body.splitlines()[3] == '"""Charlie""",'  # NULL: an empty, unquoted field
    s3.head_object(Bucket=bucket, Key=f"{read['QueryExecutionId']}.csv.metadata")
    assert rows(client, read["QueryExecutionId"]) == [
        ["name", "age"],
        ['"Alice"', "20"],
        ['"Bob"', "25"],
        ['"Charlie"', None],
    ]
    info = client.get_query_results(QueryExecutionId=read["QueryExecutionId"])["ResultSet"]
    assert [(c["Name"], c["Type"]) for c in info["ResultSetMetadata"]["ColumnInfo"]] == [
        ("name", "varchar"),
        ("age", "integer"),
    ]
    assert read["Statistics"]["DataScannedInBytes"] > 0

    assert (
        query(client, "DROP TABLE IF EXISTS example_db.people", bucket)["Status"]["State"]
        == "SUCCEEDED"
    )
    assert (
        query(client, "DROP DATABASE IF EXISTS example_db", bucket)["Status"]["State"]
        == "SUCCEEDED"
    )
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_database(Name="example_db")


def test_partitions_by_msck_and_alter_are_what_queries_read(athena, bucket, tmp_path):
    client, glue = athena
    s3 = boto3.client("s3")
    for day, plays in (("2024-01-01", 3), ("2024-01-02", 5), ("2024-01-03", 7)):
        path = tmp_path / f"{day}.parquet"
        duckdb.sql(
            f"COPY (SELECT 'rock' AS genre, {plays}::BIGINT AS plays UNION ALL SELECT 'jazz', 1) "
            f"TO '{path}' (FORMAT PARQUET)"
        )
        folder = f"plays/day={day}/" if day != "2024-01-03" else "elsewhere/"
        s3.put_object(Bucket=bucket, Key=f"{folder}part-0.parquet", Body=path.read_bytes())
    s3.put_object(Bucket=bucket, Key="plays/day=2024-01-01/_SUCCESS", Body=b"")
    query(client, "CREATE DATABASE lake", bucket)
    ddl_sql = (
        "CREATE EXTERNAL TABLE lake.plays (genre string, plays bigint) PARTITIONED BY (day string) "
        f"STORED AS PARQUET LOCATION 's3://{bucket}/plays/'"
    )
    assert query(client, ddl_sql, bucket)["Status"]["State"] == "SUCCEEDED"
    empty = query(client, "SELECT count(*) AS n FROM lake.plays", bucket)
    assert rows(client, empty["QueryExecutionId"]) == [["n"], ["0"]]
    repaired = query(client, "MSCK REPAIR TABLE lake.plays", bucket)
    assert repaired["Status"]["State"] == "SUCCEEDED", repaired["Status"]
    values = [
        p["Values"]
        for p in glue.get_partitions(DatabaseName="lake", TableName="plays")["Partitions"]
    ]
    assert sorted(values) == [["2024-01-01"], ["2024-01-02"]]
    added = query(
        client,
        f"ALTER TABLE plays ADD IF NOT EXISTS PARTITION (day='2024-01-03') LOCATION 's3://{bucket}/elsewhere/'",
        bucket,
        "lake",
    )
    assert added["Status"]["State"] == "SUCCEEDED", added["Status"]
    grouped = query(
        client,
        "SELECT genre, sum(plays) AS plays, count(DISTINCT day) AS days FROM plays "
        "WHERE day >= '2024-01-02' GROUP BY genre ORDER BY genre",
        bucket,
        "lake",
    )
    assert grouped["Status"]["State"] == "SUCCEEDED", grouped["Status"]
    assert rows(client, grouped["QueryExecutionId"], PaginationConfig={"PageSize": 1}) == [
        ["genre", "plays", "days"],
        ["jazz", "2", "2"],
        ["rock", "12", "2"],
    ]
    shown = query(client, "SHOW TABLES IN lake", bucket)
    assert shown["StatementType"] == "UTILITY"
    assert rows(client, shown["QueryExecutionId"]) == [["plays"]]


def test_errors_as_athena_answers_them(athena, bucket):
    client, _glue = athena
    with pytest.raises(
        client.exceptions.InvalidRequestException, match="WorkGroup nope is not found"
    ):
        client.start_query_execution(QueryString="SELECT 1", WorkGroup="nope")
    with pytest.raises(client.exceptions.InvalidRequestException, match="No output location"):
        client.start_query_execution(QueryString="SELECT 1")
    with pytest.raises(client.exceptions.InvalidRequestException) as syntax:
        client.start_query_execution(
            QueryString="SELEC 1", ResultConfiguration={"OutputLocation": f"s3://{bucket}/"}
        )
    assert syntax.value.response["AthenaErrorCode"] == "MALFORMED_QUERY"
    missing = query(client, "SELECT * FROM nowhere.nothing", bucket)
    assert missing["Status"]["State"] == "FAILED"
    assert missing["Status"]["StateChangeReason"].startswith("TABLE_NOT_FOUND")
    assert missing["Status"]["AthenaError"]["ErrorType"] == 1301
    with pytest.raises(
        client.exceptions.InvalidRequestException, match="Final query state: FAILED"
    ):
        client.get_query_results(QueryExecutionId=missing["QueryExecutionId"])
    with pytest.raises(client.exceptions.InvalidRequestException, match="was not found"):
        client.get_query_execution(QueryExecutionId=str(uuid.uuid4()))
    client.stop_query_execution(QueryExecutionId=missing["QueryExecutionId"])  # done: a no-op
    again = query(client, "SELECT 1 AS one", bucket, ClientRequestToken="t" * 32)
    assert query(client, "SELECT 1 AS one", bucket, ClientRequestToken="t" * 32) == again
    listed = client.list_query_executions(MaxResults=1)
    assert listed["QueryExecutionIds"] == [again["QueryExecutionId"]] and listed["NextToken"]
    group = client.get_work_group(WorkGroup="primary")["WorkGroup"]
    assert group["State"] == "ENABLED"
    pipeline = client.get_work_group(WorkGroup="music-streaming")["WorkGroup"]["Configuration"]
    assert pipeline["EnforceWorkGroupConfiguration"] is True
