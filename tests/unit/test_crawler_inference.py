"""What a crawler infers from a file's first bytes and how it groups files, on the cases AWS's
documentation describes (the built-in CSV classifier's header rules, the grouping examples)."""

from __future__ import annotations

import json

import duckdb
import pytest

from devstack.services.glue import crawl, parquet_footer
from devstack.services.glue import crawler_inference as infer


def test_a_header_is_a_row_of_names_above_rows_with_a_type_other_than_string():
    found = infer.infer_csv("product,value\napple,0.5\nmilk,2\n")
    assert found.columns == [("product", "string"), ("value", "double")]
    assert found.parameters["skip.header.line.count"] == "1"
    assert found.records == 2


def test_without_a_typed_column_the_first_row_is_data_and_columns_are_numbered():
    """The documentation: if all columns are STRING the first row is not a header."""
    found = infer.infer_csv("name,city\nann,oslo\nbo,rome\n")
    assert found.columns == [("col1", "string"), ("col2", "string")]
    assert "skip.header.line.count" not in found.parameters and found.records == 3


@pytest.mark.parametrize("delimiter", [",", "|", "\t", ";", "\x01"])
def test_each_documented_delimiter(delimiter):
    text = delimiter.join(["id", "flag", "n"]) + "\n" + delimiter.join(["1", "true", "2.5"])
    text += "\n" + delimiter.join(["2", "false", "3"]) + "\n"
    found = infer.infer_csv(text)
    assert found.parameters["delimiter"] == delimiter
    assert found.columns == [("id", "bigint"), ("flag", "boolean"), ("n", "double")]


def test_not_csv_one_column_one_row_or_ragged_rows():
    assert infer.infer_csv("just one column\n1\n2\n") is None
    assert infer.infer_csv("a,b\n") is None
    assert infer.infer_csv("a,b\n1,2,3\n4\n") is None


def test_a_header_column_of_150_characters_is_not_a_name():
    long = "x" * 150
    found = infer.infer_csv(f"{long},b\n1,2\n3,4\n")
    assert found.columns[0][0] == "col1"


def test_a_sample_cut_mid_line_drops_the_cut_line():
    found = infer.infer_csv("a,b\n1,2\n3,4\n5,x", truncated=True)
    assert found.columns == [("a", "bigint"), ("b", "bigint")]


def test_json_lines_nest_structs_and_arrays_and_widen_numbers():
    lines = [
        {"id": 1, "user": {"name": "a"}, "tags": ["x"]},
        {"id": 2**40, "user": {"age": 3}, "tags": [], "score": 1},
        {"score": 2.5},
    ]
    found = infer.infer_json("\n".join(json.dumps(r) for r in lines))
    assert found.columns == [
        ("id", "bigint"),
        ("user", "struct<name:string,age:int>"),
        ("tags", "array<string>"),
        ("score", "double"),
    ]
    assert found.serde["Parameters"]["paths"] == "id,score,tags,user"
    assert infer.infer_json('[{"a": true}, {"a": false}]').columns == [("a", "boolean")]
    assert infer.infer_json("a,b\n1,2\n") is None


def test_parquet_columns_from_the_footer(tmp_path):
    path = tmp_path / "t.parquet"
    duckdb.sql(
        "COPY (SELECT 1::BIGINT AS id, 'x' AS name, 1.5::FLOAT AS f, 12.34::DECIMAL(10,2) AS price,"
        " TIMESTAMP '2024-01-01 10:00:00' AS at, {'k': 1} AS s, [1.5, 2.5] AS xs,"
        " MAP {'a': [1]} AS m, 'ab'::BLOB AS raw)"
        f" TO '{path}' (FORMAT PARQUET)"
    )
    data = path.read_bytes()
    size = parquet_footer.footer_length(data[-8:])
    found = parquet_footer.schema(data[-8 - size : -8])
    assert found.rows == 1
    assert found.columns == [
        ("id", "bigint"),
        ("name", "string"),
        ("f", "float"),
        ("price", "decimal(10,2)"),
        ("at", "timestamp"),
        ("s", "struct<k:int>"),
        ("xs", "array<decimal(2,1)>"),
        ("m", "map<string,array<int>>"),
        ("raw", "binary"),
    ]
    with pytest.raises(parquet_footer.ParquetError):
        parquet_footer.footer_length(b"not parquet at all")
    with pytest.raises(parquet_footer.ParquetError):
        parquet_footer.schema(data[-8 - size : -20])


def test_partition_keys_from_hive_folders_else_numbered():
    assert infer.partition_keys([["year=2024", "month=1"], ["year=2023", "month=12"]]) == [
        "year",
        "month",
    ]
    assert infer.partition_keys([["2024", "a=1"], ["2023", "b=2"]]) == [
        "partition_0",
        "partition_1",
    ]
    assert infer.partition_keys([["a"], []]) is None  # not equally deep: not one table
    assert infer.partition_values(["year=2024", "x"]) == ["2024", "x"]


def files(*entries):
    return [
        crawl.CrawledFile("b", key, 10, key.split("/")[1:-1], infer.Inferred(kind, cols, 1))
        for key, kind, cols in entries
    ]


def test_the_documentations_grouping_example():
    """Two unlike JSON files under year= folders: two tables by default, one with
    CombineCompatibleSchemas (partitioned by year)."""
    entries = (
        ("table1/year=2017/data1.json", "json", [("a", "int"), ("b", "int")]),
        ("table1/year=2018/data2.json", "json", [("c", "int"), ("d", "int")]),
    )
    apart = crawl.group(files(*entries), "table1", "s3://b/table1/", combine=False)
    assert [(name, location) for name, location, _, _ in apart] == [
        ("year=2017", "s3://b/table1/year=2017/"),
        ("year=2018", "s3://b/table1/year=2018/"),
    ]
    assert infer.table_name("year=2017") == "year_2017"
    (one,) = crawl.group(files(*entries), "table1", "s3://b/table1/", combine=True)
    assert one[0] == "table1" and one[3] == ["year"]
    plan = crawl.table_plan(*one, {"Name": "c", "Targets": {}}, "run")
    assert [c["Name"] for c in plan.table_input["StorageDescriptor"]["Columns"]] == list("abcd")
    assert sorted(p["Values"] for p in plan.partitions) == [["2017"], ["2018"]]


def test_formats_do_not_mix_in_a_table():
    entries = (
        ("t/x=1/a.json", "json", [("a", "int")]),
        ("t/x=2/b.csv", "csv", [("a", "bigint")]),
    )
    assert len(crawl.group(files(*entries), "t", "s3://b/t/", combine=True)) == 2


@pytest.mark.parametrize(
    "pattern, matches, misses",
    [
        ("*.csv", ["a.csv"], ["d/a.csv", "a.json"]),
        ("**.csv", ["a.csv", "d/e/a.csv"], ["a.json"]),
        ("tmp/**", ["tmp/a", "tmp/b/c"], ["tmpx/a"]),
        ("data?.json", ["data1.json"], ["data10.json"]),
        ("[!a]*.json", ["b.json"], ["a.json"]),
        ("*.{csv,json}", ["a.csv", "a.json"], ["a.txt"]),
    ],
)
def test_exclusion_globs_as_glue_documents_them(pattern, matches, misses):
    regex = crawl.glob_regex(pattern)
    assert all(regex.match(m) for m in matches)
    assert not any(regex.match(m) for m in misses)


def test_include_paths_with_or_without_the_scheme():
    assert crawl.split_path("bucket/input") == ("bucket", "input/")
    assert crawl.split_path("s3://bucket/a/b/") == ("bucket", "a/b/")
    assert crawl.split_path("s3://bucket") == ("bucket", "")


def test_targets_other_than_s3_fail_the_crawl_with_a_reason():
    crawler = {"Name": "c", "Targets": {"S3Targets": [], "JdbcTargets": [{"Path": "db/%"}]}}
    with pytest.raises(crawl.CrawlError, match="only S3 targets.*JdbcTargets"):
        crawl.plan(None, crawler, set(), "run", print)
