"""Crawlers of the local Glue API through boto3 over S3 in the emulator: what they infer, how
they group files into tables and partitions, their states and errors, their schema-change and
recrawl policies, their logs; every reply checked against botocore's model of Glue."""

from __future__ import annotations

import json
import time
import uuid

import boto3
import duckdb
import pytest
from service_model import Checked
from test_local_services import GUARD, serve

from devstack.services import http_api
from devstack.services.glue import catalog as glue_catalog
from devstack.services.glue import responses
from devstack.services.glue.crawlers import LOG_GROUP, Crawlers
from devstack.services.glue.server import create_backend
from music_streaming import config

pytestmark = pytest.mark.integration


@pytest.fixture
def glue(endpoint, tmp_path):
    backend = create_backend(tmp_path, endpoint)
    catalog = glue_catalog.Catalog(tmp_path)
    crawlers = Crawlers(tmp_path, catalog, endpoint, config.DEFAULT_REGION)
    checked = Checked(
        "glue", responses.service(responses.GlueResponses(backend, crawlers), catalog), "AWSGlue."
    )
    handler = http_api.handler_class(
        checked, lambda: {}, "application/x-amz-json-1.1", "InvalidInputException", GUARD("glue")
    )
    url, server = serve(handler)
    yield boto3.client("glue", endpoint_url=url)
    server.shutdown()
    assert checked.found == []  # every reply as Glue's model has it


@pytest.fixture
def bucket():
    name = f"crawled-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def put(bucket: str, key: str, body: bytes | str) -> None:
    boto3.client("s3").put_object(
        Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body
    )


def crawler(glue, name: str, path: str, **extra) -> None:
    glue.create_crawler(
        Name=name,
        Role="arn:aws:iam::000000000000:role/crawler",
        DatabaseName="crawled",
        Targets={"S3Targets": [{"Path": path, **extra.pop("target", {})}]},
        **extra,
    )


def crawl(glue, name: str, timeout: float = 60) -> dict:
    glue.start_crawler(Name=name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = glue.get_crawler(Name=name)["Crawler"]
        if found["State"] == "READY":
            return found
        time.sleep(0.2)
    raise AssertionError(f"crawler {name} still {found['State']}")


def columns(table: dict) -> dict[str, str]:
    return {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}


def test_the_providers_example_a_csv_in_a_hive_folder(glue, bucket):
    """As example_glue.py has it: the path without s3://, a header, a key=value folder."""
    put(bucket, "input/category=mixed/input.csv", "product,value\napple,0.5\nmilk,2.5\nbread,4.0\n")
    crawler(glue, "shop", f"{bucket}/input", Description="first")
    glue.update_crawler(Name="shop", Description="updated")
    assert glue.get_crawler(Name="shop")["Crawler"]["Description"] == "updated"
    done = crawl(glue, "shop")
    assert done["LastCrawl"]["Status"] == "SUCCEEDED", done["LastCrawl"]
    assert (done["LastCrawl"]["LogGroup"], done["LastCrawl"]["LogStream"]) == (LOG_GROUP, "shop")

    table = glue.get_table(DatabaseName="crawled", Name="input")["Table"]
    assert columns(table) == {"product": "string", "value": "double"}
    assert table["PartitionKeys"] == [{"Name": "category", "Type": "string"}]
    assert table["Parameters"]["classification"] == "csv"
    assert table["Parameters"]["skip.header.line.count"] == "1"
    assert table["StorageDescriptor"]["SerdeInfo"]["Parameters"] == {"field.delim": ","}
    assert table["StorageDescriptor"]["Location"] == f"s3://{bucket}/input/"
    found = glue.get_partitions(
        DatabaseName="crawled", TableName="input", Expression="category='mixed'"
    )
    assert [p["Values"] for p in found["Partitions"]] == [["mixed"]]
    assert found["Partitions"][0]["StorageDescriptor"]["Location"] == (
        f"s3://{bucket}/input/category=mixed/"
    )
    (metrics,) = glue.get_crawler_metrics(CrawlerNameList=["shop"])["CrawlerMetricsList"]
    assert metrics["TablesCreated"] == 1 and metrics["LastRuntimeSeconds"] > 0
    events = boto3.client("logs").get_log_events(logGroupName=LOG_GROUP, logStreamName="shop")
    text = "\n".join(e["message"] for e in events["events"])
    assert "Created table input in database crawled" in text
    glue.delete_crawler(Name="shop")
    with pytest.raises(glue.exceptions.EntityNotFoundException, match="shop"):
        glue.get_crawler(Name="shop")


def test_unlike_folders_are_tables_of_their_own_and_json_and_parquet_are_typed(
    glue, bucket, tmp_path
):
    lines = [{"id": 1, "user": {"name": "a", "tags": ["x"]}}, {"id": 5000000000, "score": 1.5}]
    put(bucket, "data/events/part-0.json", "\n".join(json.dumps(r) for r in lines))
    parquet = tmp_path / "songs.parquet"
    duckdb.sql(
        "COPY (SELECT 's1' AS song_id, 210::INTEGER AS seconds, DATE '2024-01-01' AS released) "
        f"TO '{parquet}' (FORMAT PARQUET)"
    )
    put(bucket, "data/songs/year=2024/a.parquet", parquet.read_bytes())
    put(bucket, "data/songs/year=2023/b.parquet", parquet.read_bytes())
    put(bucket, "data/songs/_SUCCESS", "x")
    put(bucket, "data/tmp/skip.csv", "a,b\n1,2\n")
    crawler(
        glue, "lake", f"s3://{bucket}/data/", TablePrefix="raw_", target={"Exclusions": ["tmp/**"]}
    )
    assert crawl(glue, "lake")["LastCrawl"]["Status"] == "SUCCEEDED"

    names = [t["Name"] for t in glue.get_tables(DatabaseName="crawled")["TableList"]]
    assert names == ["raw_events", "raw_songs"]
    events = glue.get_table(DatabaseName="crawled", Name="raw_events")["Table"]
    assert columns(events) == {
        "id": "bigint",
        "user": "struct<name:string,tags:array<string>>",
        "score": "double",
    }
    assert events["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == (
        "org.openx.data.jsonserde.JsonSerDe"
    )
    songs = glue.get_table(DatabaseName="crawled", Name="raw_songs")["Table"]
    assert columns(songs) == {"song_id": "string", "seconds": "int", "released": "date"}
    assert songs["Parameters"]["classification"] == "parquet"
    partitions = glue.get_partitions(DatabaseName="crawled", TableName="raw_songs")["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == ["2023", "2024"]


def test_states_and_errors_as_glue_answers_them(glue, bucket):
    put(bucket, "t/x.csv", "a,b\n1,2\n3,4\n")
    crawler(glue, "busy", f"s3://{bucket}/t/")
    with pytest.raises(glue.exceptions.AlreadyExistsException):
        crawler(glue, "busy", f"s3://{bucket}/t/")
    with pytest.raises(glue.exceptions.CrawlerNotRunningException):
        glue.stop_crawler(Name="busy")
    glue.start_crawler(Name="busy")
    with pytest.raises(glue.exceptions.CrawlerRunningException):
        glue.start_crawler(Name="busy")
    with pytest.raises(glue.exceptions.InvalidInputException, match="while running"):
        glue.update_crawler(Name="busy", Description="now")
    with pytest.raises(glue.exceptions.CrawlerRunningException):
        glue.delete_crawler(Name="busy")
    glue.stop_crawler(Name="busy")
    assert glue.get_crawler(Name="busy")["Crawler"]["State"] in ("STOPPING", "READY")
    deadline = time.monotonic() + 30
    while glue.get_crawler(Name="busy")["Crawler"]["State"] != "READY":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert glue.get_crawler(Name="busy")["Crawler"]["LastCrawl"]["Status"] == "CANCELLED"
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.start_crawler(Name="missing")
    with pytest.raises(glue.exceptions.InvalidInputException, match="only LOG"):
        crawler(
            glue,
            "new_only",
            f"s3://{bucket}/t/",
            RecrawlPolicy={"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"},
        )
    assert glue.list_crawlers()["CrawlerNames"] == ["busy"]
    assert [c["Name"] for c in glue.get_crawlers()["Crawlers"]] == ["busy"]


def test_schema_changes_and_deletions_follow_the_policy_and_new_folders_only_reads_new_ones(
    glue, bucket
):
    s3 = boto3.client("s3")
    put(bucket, "plays/day=1/a.csv", "track,plays\na,1\nb,2\n")
    crawler(
        glue,
        "plays",
        f"s3://{bucket}/plays/",
        SchemaChangePolicy={"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"},
        RecrawlPolicy={"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"},
    )
    assert crawl(glue, "plays")["LastCrawl"]["Status"] == "SUCCEEDED"
    put(bucket, "plays/day=2/b.csv", "track,plays\nc,1.5\nd,2.5\n")  # plays: fractions now
    assert crawl(glue, "plays")["LastCrawl"]["Status"] == "SUCCEEDED"
    table = glue.get_table(DatabaseName="crawled", Name="plays")["Table"]
    assert columns(table)["plays"] == "bigint"  # LOG: the change is not applied
    found = glue.get_partitions(DatabaseName="crawled", TableName="plays")["Partitions"]
    assert sorted(p["Values"][0] for p in found) == ["1", "2"]  # the new folder is added

    glue.update_crawler(
        Name="plays",
        SchemaChangePolicy={
            "UpdateBehavior": "UPDATE_IN_DATABASE",
            "DeleteBehavior": "DELETE_FROM_DATABASE",
        },
        RecrawlPolicy={"RecrawlBehavior": "CRAWL_EVERYTHING"},
    )
    assert crawl(glue, "plays")["LastCrawl"]["Status"] == "SUCCEEDED"
    table = glue.get_table(DatabaseName="crawled", Name="plays")["Table"]
    assert columns(table)["plays"] == "double"  # bigint and double: double
    s3.delete_object(Bucket=bucket, Key="plays/day=1/a.csv")
    assert crawl(glue, "plays")["LastCrawl"]["Status"] == "SUCCEEDED"
    found = glue.get_partitions(DatabaseName="crawled", TableName="plays")["Partitions"]
    assert [p["Values"] for p in found] == [["2"]]
    s3.delete_object(Bucket=bucket, Key="plays/day=2/b.csv")
    assert crawl(glue, "plays")["LastCrawl"]["Status"] == "SUCCEEDED"
    assert glue.get_tables(DatabaseName="crawled")["TableList"] == []
    (metrics,) = glue.get_crawler_metrics()["CrawlerMetricsList"]
    assert metrics["TablesDeleted"] == 1
