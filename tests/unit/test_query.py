"""scripts/query's parts: DuckDB views of catalog tables (types and partition values from the
catalog, not from the files), Athena's result pages, and the output formats."""

from __future__ import annotations

import boto3
import duckdb
import pytest
from botocore.stub import Stubber

from devstack.tools import query
from music_streaming import catalog, config


def test_a_view_has_the_catalogs_columns_and_partition_values(tmp_path):
    con = duckdb.connect()
    files = {}
    for i, genre in enumerate(["rock", "r&b"]):
        path = tmp_path / f"{i}.parquet"
        con.execute(
            f"COPY (SELECT 'u{i}' AS user_id, 't' AS track_id, 'streams/a.csv' AS source_key, "
            f"'v1' AS source_version, '001' AS upload_order, TIMESTAMP '2030-01-01 10:00:00' "
            f"AS listen_time, DATE '2030-01-01' AS listen_date, 'n' AS track_name, 'a' AS "
            f"artists, {1000 + i} AS duration_ms, true AS known_track, true AS known_user, "
            f"'ignored' AS column_not_in_the_catalog) TO '{path}' (FORMAT parquet)"
        )
        files[str(path)] = ["2030-01-01", "b-1", genre]
    table = catalog.table_input("streams", "processed")
    con.execute(query.view_sql(table, files))
    rows = con.execute(
        "SELECT genre, duration_ms, date, batch_id FROM streams ORDER BY genre"
    ).fetchall()
    assert rows == [("r&b", 1001, "2030-01-01", "b-1"), ("rock", 1000, "2030-01-01", "b-1")]
    described = {r[0]: r[1] for r in con.execute("DESCRIBE streams").fetchall()}
    assert list(described) == [c for c, _ in catalog.TABLES["streams"].columns] + [
        "date",
        "batch_id",
        "genre",
    ]
    assert described["duration_ms"] == "BIGINT" and described["listen_date"] == "DATE"


def test_a_table_without_partitions_is_an_empty_view_with_its_columns():
    con = duckdb.connect()
    con.execute(query.view_sql(catalog.table_input("songs", "processed"), {}))
    assert con.execute("SELECT count(*), count(genre) FROM songs").fetchall() == [(0, 0)]
    assert "batch_id" in {r[0] for r in con.execute("DESCRIBE songs").fetchall()}


def test_an_unknown_catalog_type_is_named():
    table = catalog.table_input("users", "processed")
    table["StorageDescriptor"]["Columns"][0]["Type"] = "map<string,int>"
    with pytest.raises(query.QueryError, match="users: column type 'map<string,int>'"):
        query.view_sql(table, {})


def athena_stub():
    athena = boto3.client(
        "athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return athena, Stubber(athena)


def cell(*values):
    return {"Data": [{"VarCharValue": v} for v in values]}


def test_athena_runs_in_the_workgroup_and_drops_the_header_row():
    athena, stub = athena_stub()
    stub.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q1"},
        {
            "QueryString": "SELECT genre, n FROM t",
            "QueryExecutionContext": {"Database": catalog.DATABASE},
            "WorkGroup": config.ATHENA_WORKGROUP,
        },
    )
    for state in ("RUNNING", "SUCCEEDED"):
        stub.add_response(
            "get_query_execution",
            {"QueryExecution": {"StatementType": "DML", "Status": {"State": state}}},
        )
    metadata = {
        "ColumnInfo": [{"Name": "genre", "Type": "varchar"}, {"Name": "n", "Type": "bigint"}]
    }
    stub.add_response(
        "get_query_results",
        {
            "ResultSet": {
                "Rows": [cell("genre", "n"), cell("rock", "3")],
                "ResultSetMetadata": metadata,
            },
            "NextToken": "p2",
        },
    )
    stub.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": [cell("pop", "2")], "ResultSetMetadata": metadata}},
    )
    with stub:
        result = query.run_athena(athena, "SELECT genre, n FROM t", max_rows=10)
    assert result == query.Result(["genre", "n"], [("rock", "3"), ("pop", "2")], False)


def test_a_failed_athena_query_says_why():
    athena, stub = athena_stub()
    stub.add_response("start_query_execution", {"QueryExecutionId": "q2"})
    stub.add_response(
        "get_query_execution",
        {
            "QueryExecution": {
                "Status": {"State": "FAILED", "StateChangeReason": "TABLE_NOT_FOUND: nope"}
            }
        },
    )
    with stub, pytest.raises(query.QueryError, match="q2 FAILED: TABLE_NOT_FOUND: nope"):
        query.run_athena(athena, "SELECT 1 FROM nope", max_rows=10)


def test_formats():
    result = query.Result(["genre", "plays"], [("rock", 3), ("pop, indie", None)], True)
    text = query.render(result, "table")
    assert text.splitlines()[0].split() == ["genre", "plays"]
    assert text.endswith("(2 rows, more not shown: --max-rows)")
    assert query.render(result, "csv") == 'genre,plays\nrock,3\n"pop, indie",'
    assert query.render(result, "json").splitlines()[1] == '{"genre": "pop, indie", "plays": null}'
