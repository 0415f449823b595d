"""How a query runs: DDL against the Data Catalog (the local Glue API), queries in DuckDB over the
files of the partitions the catalog lists (fetched once into a cache by ETag), in the catalog's
types. A table is read by its SerDe: Parquet, JSON lines, or delimited text (LazySimpleSerDe: no
quoting, a value that does not parse is NULL, as Hive reads it; OpenCSVSerde: quoted strings).
Results carry Athena's type names and its text forms of values."""

from __future__ import annotations

import datetime as dt
import decimal
import fnmatch
import hashlib
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from devstack.services.athena import ddl
from devstack.services.athena.exceptions import QueryFailed
from music_streaming import aws

CATALOG = "awsdatacatalog"
HIVE_TO_DUCKDB = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "char": "VARCHAR",
    "bigint": "BIGINT",
    "long": "BIGINT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "real": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "binary": "BLOB",
}
DUCKDB_TO_ATHENA = {
    "VARCHAR": "varchar",
    "BIGINT": "bigint",
    "HUGEINT": "bigint",
    "UBIGINT": "bigint",
    "INTEGER": "integer",
    "UINTEGER": "bigint",
    "SMALLINT": "smallint",
    "TINYINT": "tinyint",
    "DOUBLE": "double",
    "FLOAT": "float",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
    "BLOB": "varbinary",
    "INTERVAL": "interval day to second",
    "TIME": "time",
    "UUID": "varchar",
    '"NULL"': "unknown",
}
PRECISION = {"integer": 10, "bigint": 19, "double": 17, "timestamp": 3, "float": 7}
ACTIVE_QUERIES: dict[str, duckdb.DuckDBPyConnection] = {}  # for StopQueryExecution
_active_lock = threading.Lock()


@dataclass
class Column:
    name: str
    type: str
    precision: int = 0
    scale: int = 0


@dataclass
class Outcome:
    statement_type: str  # DDL | DML | UTILITY
    columns: list[Column] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    scanned_bytes: int = 0


def duckdb_type(hive: str) -> str:
    """A catalog type (``array<struct<a:int>>``, ``decimal(10,2)``) as DuckDB's."""
    hive = hive.strip().lower()
    if hive in HIVE_TO_DUCKDB:
        return HIVE_TO_DUCKDB[hive]
    if re.fullmatch(r"(decimal|numeric)\(\d+,\s*\d+\)", hive):
        return hive.upper().replace("NUMERIC", "DECIMAL")
    if re.fullmatch(r"(var)?char\(\d+\)", hive):
        return "VARCHAR"
    if hive.startswith("array<") and hive.endswith(">"):
        return duckdb_type(hive[6:-1]) + "[]"
    if hive.startswith("map<") and hive.endswith(">"):
        key, value = _split_top(hive[4:-1])
        return f"MAP({duckdb_type(key)}, {duckdb_type(value)})"
    if hive.startswith("struct<") and hive.endswith(">"):
        fields = [f.split(":", 1) for f in _split_top(hive[7:-1])]
        return "STRUCT(" + ", ".join(f'"{n}" {duckdb_type(t)}' for n, t in fields) + ")"
    raise QueryFailed(f"NOT_SUPPORTED: Unknown type: {hive}", 1206)


def _split_top(body: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(body + ","):
        depth += ch in "<(" and 1 or 0
        depth -= ch in ">)" and 1 or 0
        if ch == "," and depth == 0:
            parts.append(body[start:i].strip())
            start = i + 1
    return parts


def athena_type(kind: duckdb.typing.DuckDBPyType) -> Column:
    text = str(kind).upper()
    if text.startswith("DECIMAL"):
        precision, scale = (int(x) for x in re.findall(r"\d+", text)[:2])
        return Column("", "decimal", precision, scale)
    if text.endswith("[]"):
        return Column("", "array")
    if text.startswith("STRUCT"):
        return Column("", "row")
    if text.startswith("MAP"):
        return Column("", "map")
    name = DUCKDB_TO_ATHENA.get(text, text.lower())
    return Column("", name, PRECISION.get(name, 0))


def text(value) -> str | None:
    """A value as Athena's results show it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="milliseconds")
    if isinstance(value, (dt.date, decimal.Decimal, int, float, str)):
        return str(value)
    if isinstance(value, bytes):
        return value.hex(" ")
    if isinstance(value, list):
        return "[" + ", ".join("null" if v is None else text(v) for v in value) + "]"
    if isinstance(value, dict):
        if set(value) == {"key", "value"} and isinstance(value["key"], list):  # a MAP
            pairs = zip(value["key"], value["value"])
        else:
            pairs = value.items()
        return (
            "{" + ", ".join(f"{text(k)}={'null' if v is None else text(v)}" for k, v in pairs) + "}"
        )
    return str(value)


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Engine:
    """Runs one statement with the catalog behind ``glue`` and the data behind ``s3``."""

    def __init__(self, glue, s3, cache: Path):
        self.glue, self.s3, self.cache = glue, s3, cache

    # --------------------------------------------------------------------------- DDL
    def run(self, query_id: str, sql: str, database: str) -> Outcome:
        statement = ddl.parse(sql)
        if statement is None:
            return self._query(query_id, sql, database)
        handler = getattr(self, "_" + type(statement).__name__)
        return handler(statement, database)

    def _table(self, database: str | None, name: str, default: str) -> dict:
        database = database or default
        try:
            return self.glue.get_table(DatabaseName=database, Name=name)["Table"]
        except self.glue.exceptions.EntityNotFoundException as exc:
            raise QueryFailed(
                f"TABLE_NOT_FOUND: line 1:1: Table '{CATALOG}.{database}.{name}' does not exist",
                1301,
            ) from exc

    def _CreateDatabase(self, s: ddl.CreateDatabase, _default: str) -> Outcome:
        database = {"Name": s.name, "Description": s.comment, "Parameters": s.properties}
        if s.location:
            database["LocationUri"] = s.location
        try:
            self.glue.create_database(DatabaseInput=database)
        except self.glue.exceptions.AlreadyExistsException as exc:
            if not s.if_not_exists:
                raise QueryFailed(
                    f"FAILED: AlreadyExistsException: Database {s.name} already exists"
                ) from exc
        return Outcome("DDL")

    def _DropDatabase(self, s: ddl.DropDatabase, _default: str) -> Outcome:
        try:
            tables = self.glue.get_tables(DatabaseName=s.name)["TableList"]
        except self.glue.exceptions.EntityNotFoundException as exc:
            if s.if_exists:
                return Outcome("DDL")
            raise QueryFailed(
                f"FAILED: SemanticException [Error 10072]: Database does not exist: {s.name}"
            ) from exc
        if tables and not s.cascade:
            raise QueryFailed(
                f"FAILED: InvalidOperationException(message:Database {s.name} is not empty. One or "
                "more tables exist.)"
            )
        self.glue.delete_database(Name=s.name)
        return Outcome("DDL")

    def _CreateTable(self, s: ddl.CreateTable, default: str) -> Outcome:
        database = s.database or default
        for _, kind in s.columns + s.partition_keys:
            duckdb_type(kind)  # a type the engine cannot read is refused now, not at a query
        try:
            self.glue.create_table(DatabaseName=database, TableInput=ddl.table_input(s))
        except self.glue.exceptions.AlreadyExistsException as exc:
            if not s.if_not_exists:
                raise QueryFailed(
                    f"FAILED: AlreadyExistsException: Table {s.name} already exists"
                ) from exc
        except self.glue.exceptions.EntityNotFoundException as exc:
            raise QueryFailed(
                f"FAILED: SemanticException [Error 10072]: Database does not exist: {database}"
            ) from exc
        return Outcome("DDL")

    def _DropTable(self, s: ddl.DropTable, default: str) -> Outcome:
        try:
            self.glue.delete_table(DatabaseName=s.database or default, Name=s.name)
        except self.glue.exceptions.EntityNotFoundException as exc:
            if not s.if_exists:
                raise QueryFailed(
                    f"FAILED: SemanticException [Error 10001]: Table not found {s.name}"
                ) from exc
        return Outcome("DDL")

    def _add(self, table: dict, partitions: list[tuple[list[str], str]]) -> list[str]:
        """Registers partitions; the values of those already there."""
        descriptor = table["StorageDescriptor"]
        inputs = [
            {"Values": values, "StorageDescriptor": {**descriptor, "Location": location}}
            for values, location in partitions
        ]
        existing = []
        for start in range(0, len(inputs), 100):
            errors = self.glue.batch_create_partition(
                DatabaseName=table["DatabaseName"],
                TableName=table["Name"],
                PartitionInputList=inputs[start : start + 100],
            )["Errors"]
            existing += ["/".join(e["PartitionValues"]) for e in errors]
        return existing

    def _RepairTable(self, s: ddl.RepairTable, default: str) -> Outcome:
        """Adds the Hive-style partitions under the table's location (never removes any)."""
        table = self._table(s.database, s.name, default)
        keys = [k["Name"] for k in table.get("PartitionKeys", [])]
        location = table["StorageDescriptor"]["Location"]
        bucket, prefix = _split(location)
        found: dict[tuple, str] = {}
        pattern = re.compile("/".join(f"{re.escape(k)}=([^/]+)" for k in keys) + "/", re.I)
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                match = pattern.match(obj["Key"][len(prefix) :])
                if keys and match:
                    values = tuple(match.groups())
                    found[values] = f"s3://{bucket}/{prefix}{match.group(0)}"
        added = self._add(table, [(list(v), loc) for v, loc in sorted(found.items())])
        rows = [
            [
                f"Partitions not in metastore:\t{s.name}:{'/'.join(f'{k}={v}' for k, v in zip(keys, vals))}"
            ]
            for vals in sorted(found)
            if "/".join(vals) not in added
        ]
        return Outcome("DDL", [Column("", "varchar")], rows)

    def _AddPartitions(self, s: ddl.AddPartitions, default: str) -> Outcome:
        table = self._table(s.database, s.name, default)
        keys = [k["Name"] for k in table.get("PartitionKeys", [])]
        wanted = []
        for spec, location in s.partitions:
            if set(spec) != set(keys):
                raise QueryFailed(
                    f"FAILED: SemanticException Partition spec {spec} does not match the "
                    f"partition keys {keys}"
                )
            values = [spec[k] for k in keys]
            where = location or (
                table["StorageDescriptor"]["Location"]
                + "/".join(f"{k}={v}" for k, v in zip(keys, values))
                + "/"
            )
            wanted.append((values, ddl.normal_location(where)))
        existing = self._add(table, wanted)
        if existing and not s.if_not_exists:
            raise QueryFailed(
                f"FAILED: AlreadyExistsException: Partition already exists: {existing[0]}"
            )
        return Outcome("DDL")

    def _DropPartitions(self, s: ddl.DropPartitions, default: str) -> Outcome:
        table = self._table(s.database, s.name, default)
        keys = [k["Name"] for k in table.get("PartitionKeys", [])]
        gone = [{"Values": [spec[k] for k in keys]} for spec in s.partitions]
        errors = self.glue.batch_delete_partition(
            DatabaseName=table["DatabaseName"], TableName=table["Name"], PartitionsToDelete=gone
        )["Errors"]
        if errors and not s.if_exists:
            raise QueryFailed(
                f"FAILED: SemanticException [Error 10006]: Partition not found {errors[0]['PartitionValues']}"
            )
        return Outcome("DDL")

    def _ShowTables(self, s: ddl.ShowTables, default: str) -> Outcome:
        database = s.database or default
        try:
            tables = aws.paged(self.glue, "get_tables", "TableList", DatabaseName=database)
        except self.glue.exceptions.EntityNotFoundException as exc:
            raise QueryFailed(
                f"SCHEMA_NOT_FOUND: line 1:1: Schema '{database}' does not exist", 1301
            ) from exc
        pattern = s.pattern.replace("|", "\0")
        names = [
            t["Name"]
            for t in tables
            if any(fnmatch.fnmatch(t["Name"], p) for p in pattern.split("\0"))
        ]
        return Outcome("UTILITY", [Column("tab_name", "varchar")], [[n] for n in sorted(names)])

    def _ShowDatabases(self, s: ddl.ShowDatabases, _default: str) -> Outcome:
        names = sorted(d["Name"] for d in aws.paged(self.glue, "get_databases", "DatabaseList"))
        return Outcome("UTILITY", [Column("database_name", "varchar")], [[n] for n in names])

    def _Describe(self, s: ddl.Describe, default: str) -> Outcome:
        table = self._table(s.database, s.name, default)
        columns = table["StorageDescriptor"]["Columns"] + table.get("PartitionKeys", [])
        rows = [[f"{c['Name']:<20}\t{c['Type']:<20}\t{c.get('Comment', '')}"] for c in columns]
        return Outcome("UTILITY", [Column("col_name", "varchar")], rows)

    # ------------------------------------------------------------------------ queries
    def _query(self, query_id: str, sql: str, database: str) -> Outcome:
        con = duckdb.connect()
        con.execute(f"ATTACH ':memory:' AS {CATALOG}")
        try:
            names = con.get_table_names(sql, qualified=True)
        except duckdb.Error as exc:
            raise QueryFailed(f"SYNTAX_ERROR: {exc}") from exc
        scanned = 0
        created = set()
        for name in names:
            parts = [
                p.strip('"').lower() for p in re.split(r"\s+AS\s+", name, flags=re.I)[0].split(".")
            ]
            table_db, table_name = (parts[-2] if len(parts) > 1 else database), parts[-1]
            if (table_db, table_name) in created:
                continue
            created.add((table_db, table_name))
            table = self._table(table_db, table_name, database)
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {CATALOG}.{quoted(table_db)}")
            files = self._files(table)
            scanned += sum(size for _, size in files.values())
            con.execute(
                view_sql(f"{CATALOG}.{quoted(table_db)}.{quoted(table_name)}", table, files)
            )
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {CATALOG}.{quoted(database)}")
        con.execute(f"USE {CATALOG}.{quoted(database)}")
        with _active_lock:
            ACTIVE_QUERIES[query_id] = con
        try:
            relation = con.sql(sql)
            if relation is None:
                return Outcome("DML", scanned_bytes=scanned)
            columns = [athena_type(t) for t in relation.types]
            for column, name in zip(columns, relation.columns):
                column.name = name
            rows = [[text(v) for v in row] for row in relation.fetchall()]
        except duckdb.InterruptException as exc:
            raise QueryFailed("Query cancelled by user", 0, 3) from exc
        except duckdb.CatalogException as exc:
            raise QueryFailed(f"COLUMN_NOT_FOUND: {exc}", 1006) from exc
        except duckdb.Error as exc:
            raise QueryFailed(f"GENERIC_USER_ERROR: {exc}") from exc
        finally:
            with _active_lock:
                ACTIVE_QUERIES.pop(query_id, None)
            con.close()
        return Outcome("DML", columns, rows, scanned)

    def _files(self, table: dict) -> dict[str, tuple[list[str], int]]:
        """Local path → (partition values, size) of every data file of the table."""
        keys = table.get("PartitionKeys", [])
        if keys:
            locations = [
                (p["StorageDescriptor"]["Location"], p["Values"])
                for p in aws.paged(
                    self.glue,
                    "get_partitions",
                    "Partitions",
                    DatabaseName=table["DatabaseName"],
                    TableName=table["Name"],
                )
            ]
        else:
            locations = [(table["StorageDescriptor"]["Location"], [])]
        wanted: dict[tuple[str, str, str], tuple[list[str], int]] = {}
        for location, values in locations:
            bucket, prefix = _split(location)
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                for obj in page.get("Contents", []):
                    name = obj["Key"].rsplit("/", 1)[-1]
                    if obj["Size"] and name[:1] not in ("_", ".") and not obj["Key"].endswith("/"):
                        wanted[(bucket, obj["Key"], obj["ETag"])] = (values, obj["Size"])
        self.cache.mkdir(parents=True, exist_ok=True)
        local = {}
        for source in wanted:
            suffix = "".join(Path(source[1]).suffixes[-2:]) if source[1].endswith(".gz") else ""
            digest = hashlib.sha256("\0".join(source).encode()).hexdigest()
            local[source] = self.cache / (digest + suffix)
        missing = [s for s, path in local.items() if not path.exists()]
        for source, path in local.items():
            if source not in missing:
                path.touch()  # read now: kept by the service's cache clean-up
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda s: self._fetch(s, local[s]), missing))
        return {str(local[s]): found for s, found in wanted.items()}

    def _fetch(self, source: tuple[str, str, str], path: Path) -> None:
        bucket, key, _etag = source
        partial = path.with_name(path.name + ".part")
        self.s3.download_file(bucket, key, str(partial))
        partial.replace(path)


def _split(location: str) -> tuple[str, str]:
    rest = re.sub(r"^s3a?://", "", ddl.normal_location(location))
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix


def reader_sql(table: dict, paths: list[str]) -> str:
    """DuckDB's reader of the table's files, by its SerDe, giving the catalog's columns."""
    descriptor = table["StorageDescriptor"]
    serde = descriptor.get("SerdeInfo", {})
    library = serde.get("SerializationLibrary", "").lower()
    params = serde.get("Parameters", {})
    files = "[" + ", ".join(sql_string(p) for p in paths) + "]"
    columns = [(c["Name"], c["Type"]) for c in descriptor.get("Columns", [])]
    if "parquet" in library or "parquet" in descriptor.get("InputFormat", "").lower():
        return f"read_parquet({files}, filename = true, union_by_name = true)"
    if "orc" in library:
        raise QueryFailed("NOT_SUPPORTED: ORC tables are not read locally", 1206)
    if "json" in library:
        spec = ", ".join(f"{sql_string(n)}: {sql_string(duckdb_type(t))}" for n, t in columns)
        return (
            f"read_json({files}, format = 'newline_delimited', columns = {{{spec}}}, "
            "filename = true, ignore_errors = true)"
        )
    if "opencsv" in library:
        delimiter = params.get("separatorChar", ",")
        quote = params.get("quoteChar", '"')
        escape = params.get("escapeChar", "\\")
    else:
        delimiter = params.get("field.delim", params.get("serialization.format", "\x01"))
        quote, escape = "", ""
    skip = int(table.get("Parameters", {}).get("skip.header.line.count", "0") or 0)
    spec = ", ".join(f"{sql_string(n)}: 'VARCHAR'" for n, _ in columns)
    return (
        f"read_csv({files}, delim = {sql_string(delimiter)}, quote = {sql_string(quote)}, "
        f"escape = {sql_string(escape)}, header = false, skip = {skip}, columns = {{{spec}}}, "
        "filename = true, null_padding = true, ignore_errors = true, auto_detect = false, "
        "nullstr = '\\N')"
    )


def view_sql(name: str, table: dict, files: dict[str, tuple[list[str], int]]) -> str:
    """A view of the table: its columns in the catalog's types, then its partition keys."""
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"].get("Columns", [])]
    keys = [(k["Name"], k["Type"]) for k in table.get("PartitionKeys", [])]
    if not files:
        fields = ", ".join(
            f"CAST(NULL AS {duckdb_type(kind)}) AS {quoted(c)}" for c, kind in columns + keys
        )
        return f"CREATE VIEW {name} AS SELECT {fields} WHERE false"
    data = ", ".join(
        f"TRY_CAST(d.{quoted(c)} AS {duckdb_type(kind)}) AS {quoted(c)}" for c, kind in columns
    )
    partition = "".join(
        f", TRY_CAST(f.{quoted(k)} AS {duckdb_type(kind)}) AS {quoted(k)}" for k, kind in keys
    )
    values = ", ".join(
        "(" + ", ".join(sql_string(v) for v in [path, *vals]) + ")"
        for path, (vals, _) in files.items()
    )
    aliases = ", ".join(quoted(a) for a in ["__file", *(k for k, _ in keys)])
    return (
        f"CREATE VIEW {name} AS SELECT {data}{partition} FROM {reader_sql(table, list(files))} d "
        f"JOIN (VALUES {values}) f({aliases}) ON d.filename = f.__file"
    )


def interrupt(query_id: str) -> bool:
    with _active_lock:
        con = ACTIVE_QUERIES.get(query_id)
    if con is not None:
        con.interrupt()
    return con is not None
