"""scripts/query's parts: Athena's result pages (typed by their column types) and the output
formats."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from devstack.tools import query
from music_streaming import catalog, config


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
    assert result == query.Result(["genre", "n"], [("rock", 3), ("pop", 2)], False)


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
