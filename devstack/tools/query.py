"""``scripts/query "SELECT ..."``: SQL over the Data Catalog's tables (catalog.py).

Locally, DuckDB runs it over the stack's S3: each table is a view over the Parquet files of the
partitions the catalog lists, with the catalog's columns and partition keys. Files are fetched
once into ``.stack/query-cache`` (by ETag) and the ones no partition names any more are removed.
With ``--aws`` the query runs in Athena, in the pipeline's workgroup.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from devstack.core import arguments
from devstack.core.stack_config import StackConfig
from music_streaming import aws, catalog, config, layout

# Hive types of the catalog -> DuckDB's.
DUCKDB_TYPES = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}
ATHENA_DONE = ("SUCCEEDED", "FAILED", "CANCELLED")


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


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duckdb_type(table: str, hive: str) -> str:
    if hive not in DUCKDB_TYPES:
        raise QueryError(f"table {table}: column type {hive!r} has no DuckDB equivalent")
    return DUCKDB_TYPES[hive]


def view_sql(table: dict, files: dict[str, list[str]]) -> str:
    """A DuckDB view of a catalog table (GetTable's shape) over local Parquet files (path ->
    partition values): its columns, cast to the catalog's types, then its partition keys."""
    name = table["Name"]
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    keys = [(k["Name"], k["Type"]) for k in table.get("PartitionKeys", [])]
    if not files:  # no partition yet: the columns, no rows
        fields = ", ".join(
            f"CAST(NULL AS {duckdb_type(name, kind)}) AS {quoted(column)}"
            for column, kind in columns + keys
        )
        return f"CREATE VIEW {quoted(name)} AS SELECT {fields} WHERE false"
    data = ", ".join(
        f"CAST(d.{quoted(c)} AS {duckdb_type(name, kind)}) AS {quoted(c)}" for c, kind in columns
    )
    partition = ", ".join(
        f"CAST(f.{quoted(k)} AS {duckdb_type(name, kind)}) AS {quoted(k)}" for k, kind in keys
    )
    values = ", ".join(
        "(" + ", ".join(sql_string(v) for v in [path, *vals]) + ")" for path, vals in files.items()
    )
    aliases = ", ".join(quoted(a) for a in ["file", *(k for k, _ in keys)])
    paths = ", ".join(sql_string(p) for p in files)
    return (
        f"CREATE VIEW {quoted(name)} AS SELECT {data}{', ' if partition else ''}{partition} "
        f"FROM read_parquet([{paths}], filename = true, union_by_name = true) d "
        f"JOIN (VALUES {values}) f({aliases}) ON d.filename = f.file"
    )


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class LocalCatalog:
    """The catalog's tables (of the stack, or of AWS for --tables) with their Parquet files
    fetched into ``cache``."""

    def __init__(self, glue, s3, cache: Path):
        self.glue, self.s3, self.cache = glue, s3, cache

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

    def files(self, table: str) -> dict[str, list[str]]:
        """Local path -> partition values, of every Parquet object of the table's partitions."""
        wanted: dict[tuple[str, str, str], list[str]] = {}
        for partition in self.partitions(table):
            bucket, prefix = layout.split_s3_url(partition["StorageDescriptor"]["Location"])
            for obj in aws.paged(
                self.s3, "list_objects_v2", "Contents", Bucket=bucket, Prefix=prefix
            ):
                if obj["Key"].endswith(".parquet"):
                    wanted[(bucket, obj["Key"], obj["ETag"])] = partition["Values"]
        self.cache.mkdir(parents=True, exist_ok=True)
        local = {
            source: self.cache
            / (hashlib.sha256("\0".join(source).encode()).hexdigest() + ".parquet")
            for source in wanted
        }
        missing = [s for s, path in local.items() if not path.exists()]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda s: self._fetch(s, local[s]), missing))
        return {str(local[s]): values for s, values in wanted.items()}

    def _fetch(self, source: tuple[str, str, str], path: Path) -> None:
        bucket, key, _etag = source
        partial = path.with_suffix(".part")
        self.s3.download_file(bucket, key, str(partial))
        partial.replace(path)  # a crash leaves no half file under the cached name

    def connect(self):
        """A DuckDB connection with one view per table; the cache keeps only files in use."""
        import duckdb

        con = duckdb.connect()
        used: set[str] = set()
        for table in self.tables():
            files = self.files(table["Name"])
            used |= set(files)
            con.execute(view_sql(table, files))
        for stale in self.cache.glob("*.parquet"):
            if str(stale) not in used:
                stale.unlink()
        return con


def run_local(cfg: StackConfig, sql: str, max_rows: int) -> Result:
    import duckdb

    con = LocalCatalog(cfg.client("glue"), cfg.client("s3"), cfg.home / "query-cache").connect()
    try:
        cursor = con.execute(sql)
    except duckdb.Error as exc:
        raise QueryError(str(exc).strip()) from exc
    if cursor.description is None:
        return Result([], [], False)
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchmany(max_rows + 1)
    return Result(columns, rows[:max_rows], len(rows) > max_rows)


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
    rows: list[tuple] = []
    # the first row of a SELECT's (DML) results repeats the column names
    header = int(execution.get("StatementType") == "DML")
    request = {"QueryExecutionId": query_id, "MaxResults": min(max_rows + 1 + header, 1000)}
    while len(rows) <= max_rows:
        page = athena.get_query_results(**request)
        if not columns:
            columns = [c["Name"] for c in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
        data = page["ResultSet"]["Rows"][header:]
        header = 0
        rows += [tuple(d.get("VarCharValue") for d in row["Data"]) for row in data]
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

    try:
        if args.tables:
            glue = boto3.client("glue") if args.aws else cfg.client("glue")
            tables = LocalCatalog(glue, None, cfg.home / "query-cache")
            listed = tables.tables()
            print(
                tables_text(listed, {t["Name"]: len(tables.partitions(t["Name"])) for t in listed})
            )
            return 0
        if args.aws:
            result = run_athena(boto3.client("athena"), args.sql, args.max_rows)
        else:
            result = run_local(cfg, args.sql, args.max_rows)
    except QueryError as exc:
        print(f"query: {exc}", file=sys.stderr)
        return 1
    print(render(result, args.format))
    return 0
