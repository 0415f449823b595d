"""``scripts/query "SELECT ..."``: SQL over the Data Catalog's tables (catalog.py), through
Athena's API in the pipeline's workgroup: the stack's local Athena API (DuckDB executing over the
files of the partitions the catalog lists), or Athena in AWS with ``--aws``. One client, one code
path; values come back typed by the result's column types.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from typing import NamedTuple

from devstack.core import arguments
from devstack.core.stack_config import StackConfig
from devstack.runtime import stack
from music_streaming import aws, catalog, config

ATHENA_DONE = ("SUCCEEDED", "FAILED", "CANCELLED")
# Athena's column types -> how a value of the result is read back
TYPED = {
    "tinyint": int,
    "smallint": int,
    "integer": int,
    "bigint": int,
    "double": float,
    "float": float,
    "real": float,
    "boolean": lambda v: v == "true",
}


class QueryError(Exception):
    """A query that cannot run: bad SQL, an unknown table, a missing catalog."""


class Result(NamedTuple):
    columns: list[str]
    rows: list[tuple]
    truncated: bool  # more rows than --max-rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "sql", nargs="?", help='e.g. "SELECT genre, count(*) FROM streams GROUP BY 1"'
    )
    parser.add_argument(
        "--tables", action="store_true", help="list the tables, their columns and partitions"
    )
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument(
        "--max-rows", type=arguments.positive_int, default=100, help="rows shown (default 100)"
    )
    parser.add_argument("--aws", action="store_true", help="run in Athena (default credentials)")


class CatalogTables:
    """The catalog's tables and partition counts (of the stack, or of AWS with --aws)."""

    def __init__(self, glue):
        self.glue = glue

    def tables(self) -> list[dict]:
        try:
            return aws.paged(self.glue, "get_tables", "TableList", DatabaseName=catalog.DATABASE)
        except self.glue.exceptions.EntityNotFoundException as exc:
            raise QueryError(
                f"the stack has no catalog database {catalog.DATABASE}: run scripts/up (it "
                "bootstraps the catalog)"
            ) from exc

    def partitions(self, table: str) -> list[dict]:
        return aws.paged(
            self.glue,
            "get_partitions",
            "Partitions",
            DatabaseName=catalog.DATABASE,
            TableName=table,
        )


def typed(value: str | None, athena_type: str):
    if value is None or athena_type not in TYPED:
        return value
    return TYPED[athena_type](value)


def run_athena(athena, sql: str, max_rows: int, timeout: float = 600) -> Result:
    """The query in the pipeline's workgroup (its result location and encryption enforced)."""
    query_id = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": catalog.DATABASE},
        WorkGroup=config.ATHENA_WORKGROUP,
    )["QueryExecutionId"]
    deadline, delay = time.monotonic() + timeout, 0.2
    while True:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        status = execution["Status"]
        if status["State"] in ATHENA_DONE:
            break
        if time.monotonic() > deadline:
            athena.stop_query_execution(QueryExecutionId=query_id)
            raise QueryError(
                f"Athena query {query_id} still running after {timeout:.0f} s: stopped"
            )
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
    if status["State"] != "SUCCEEDED":
        raise QueryError(
            f"Athena query {query_id} {status['State']}: {status.get('StateChangeReason', '')}"
        )
    columns: list[str] = []
    types: list[str] = []
    rows: list[tuple] = []
    # the first row of a SELECT's (DML) results repeats the column names
    header = int(execution.get("StatementType") == "DML")
    request = {"QueryExecutionId": query_id, "MaxResults": min(max_rows + 1 + header, 1000)}
    while len(rows) <= max_rows:
        page = athena.get_query_results(**request)
        if not columns:
            info = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
            columns, types = [c["Name"] for c in info], [c["Type"] for c in info]
        data = page["ResultSet"]["Rows"][header:]
        header = 0
        rows += [
            tuple(typed(d.get("VarCharValue"), t) for d, t in zip(row["Data"], types))
            for row in data
        ]
        if not page.get("NextToken"):
            break
        request["NextToken"] = page["NextToken"]
    return Result(columns, rows[:max_rows], len(rows) > max_rows)


def plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # dates, timestamps, decimals


def render(result: Result, form: str) -> str:
    if form == "json":
        return "\n".join(
            json.dumps(dict(zip(result.columns, map(plain, row)))) for row in result.rows
        )
    if form == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([[plain(v) for v in row] for row in result.rows])
        return out.getvalue().rstrip("\n")
    from tabulate import tabulate

    table = tabulate([[plain(v) for v in r] for r in result.rows], result.columns, "simple")
    count = f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''}"
    count += ", more not shown: --max-rows)" if result.truncated else ")"
    return f"{table}\n{count}" if result.columns else "(no result)"


def tables_text(tables: list[dict], partitions: dict[str, int]) -> str:
    lines = []
    for table in tables:
        keys = ", ".join(k["Name"] for k in table.get("PartitionKeys", []))
        columns = ", ".join(
            f"{c['Name']} {c['Type']}" for c in table["StorageDescriptor"]["Columns"]
        )
        count = partitions[table["Name"]]
        lines.append(
            f"{catalog.DATABASE}.{table['Name']}  ({count} partition{'s' * (count != 1)} by "
            f"{keys}; {table['StorageDescriptor']['Location']})\n  {columns}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace, cfg: StackConfig) -> int:
    if not args.tables and not args.sql:
        print("query: give a SQL statement, or --tables", file=sys.stderr)
        return 2
    import boto3
    from botocore.exceptions import ClientError

    try:
        if args.tables:
            tables = CatalogTables(boto3.client("glue") if args.aws else cfg.client("glue"))
            listed = tables.tables()
            print(
                tables_text(listed, {t["Name"]: len(tables.partitions(t["Name"])) for t in listed})
            )
            return 0
        if not args.aws and not stack.listening(cfg.athena_endpoint):
            raise QueryError(
                f"nothing answers at {cfg.athena_endpoint}, the local Athena API: `scripts/up` "
                "starts it (a stack started before it existed needs `scripts/down` first)"
            )
        athena = boto3.client("athena") if args.aws else cfg.client("athena")
        result = run_athena(athena, args.sql, args.max_rows)
    except (QueryError, ClientError) as exc:
        print(f"query: {exc}", file=sys.stderr)
        return 1
    print(render(result, args.format))
    return 0
