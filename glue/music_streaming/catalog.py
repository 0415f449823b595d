"""The Glue Data Catalog over the processed bucket: one database, a table of the processed streams
and one per reference dataset, defined here once for the local bootstrap, the CloudFormation
template and the ETL job (which registers the partitions it writes). Standard library only.

Rows keep their source (``source_key``, ``source_version``, ``upload_order``): a correction adds
the rows of the new version beside the old ones; the KPIs count, of each key, only its newest
processed upload, as the file ledger records it. A stream row's genre, names and ``known_*``
flags are those of the reference it was written with; the KPIs join the current reference.
"""

from __future__ import annotations

from typing import Dict, List, NamedTuple, Sequence, Tuple
from urllib.parse import unquote

from music_streaming import config, datasets, layout

DATABASE = config.CATALOG_DATABASE
# Tables are named as their datasets.
SOURCE_COLUMNS: List[Tuple[str, str]] = [
    ("source_key", "string"),
    ("source_version", "string"),
    ("upload_order", "string"),
]


class TableSpec(NamedTuple):
    name: str
    prefix: str  # under the processed bucket
    columns: List[Tuple[str, str]]  # (name, Hive type) of the Parquet files
    partition_keys: List[str]  # directory levels ``key=value``, all strings
    description: str


TABLES: Dict[str, TableSpec] = {
    datasets.STREAMS: TableSpec(
        datasets.STREAMS,
        layout.PROCESSED_DATA_PREFIX,
        [
            ("user_id", "string"),
            ("track_id", "string"),
            *SOURCE_COLUMNS,
            ("listen_time", "timestamp"),
            ("listen_date", "date"),
            ("track_name", "string"),
            ("artists", "string"),
            ("duration_ms", "bigint"),
            ("known_track", "boolean"),
            ("known_user", "boolean"),
        ],
        ["date", "batch_id", "genre"],
        "Valid stream rows joined with the reference, one partition per processing date, batch "
        "and genre (registered by the ETL job)",
    ),
    datasets.SONGS: TableSpec(
        datasets.SONGS,
        layout.reference_prefix(datasets.SONGS),
        [
            *SOURCE_COLUMNS,
            ("track_id", "string"),
            ("genre", "string"),
            ("track_name", "string"),
            ("artists", "string"),
            ("duration_ms", "bigint"),
        ],
        ["batch_id"],
        "Songs reference rows of every processed upload, one partition per batch",
    ),
    datasets.USERS: TableSpec(
        datasets.USERS,
        layout.reference_prefix(datasets.USERS),
        [
            *SOURCE_COLUMNS,
            ("user_id", "string"),
            ("user_name", "string"),
            ("user_age", "bigint"),
            ("user_country", "string"),
        ],
        ["batch_id"],
        "Users reference rows of every processed upload, one partition per batch",
    ),
}

_PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    },
}


def database_input() -> dict:
    return {
        "Name": DATABASE,
        "Description": "Music-streaming pipeline: processed streams and reference data",
    }


def _storage(location: str, columns: Sequence[Tuple[str, str]]) -> dict:
    return {
        "Columns": [{"Name": name, "Type": kind} for name, kind in columns],
        "Location": location,
        **_PARQUET,
    }


def table_input(table: str, processed_bucket: str) -> dict:
    """CreateTable's ``TableInput`` (the CloudFormation ``AWS::Glue::Table`` shape too)."""
    spec = TABLES[table]
    return {
        "Name": spec.name,
        "Description": spec.description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
        "PartitionKeys": [{"Name": key, "Type": "string"} for key in spec.partition_keys],
        "StorageDescriptor": _storage(layout.s3_url(processed_bucket, spec.prefix), spec.columns),
    }


def partition_values(table: str, key: str) -> List[str] | None:
    """The partition values of an object key (or a partition's prefix) of ``table``, in the
    order of its partition keys; None when the key is not inside one partition. Spark escapes
    special characters of a value as ``%XX``."""
    spec = TABLES[table]
    if not key.startswith(spec.prefix):
        return None
    parts = key[len(spec.prefix) :].split("/")
    if len(parts) <= len(spec.partition_keys):
        return None
    values = []
    for name, part in zip(spec.partition_keys, parts):
        field, sep, value = part.partition("=")
        if not sep or field != name or not value:
            return None
        values.append(unquote(value))
    return values


def partition_prefix(table: str, key: str) -> str | None:
    """The prefix of the partition that holds ``key``, ending in ``/``."""
    values = partition_values(table, key)
    if values is None:
        return None
    depth = len(TABLES[table].prefix.split("/")) - 1 + len(values)
    return "/".join(key.split("/")[:depth]) + "/"


def partition_prefixes(table: str, keys: Sequence[str]) -> List[str]:
    """The partitions (prefixes) that hold these object keys of ``table``, sorted."""
    return sorted({p for p in (partition_prefix(table, k) for k in keys) if p is not None})


def partition_input(table: str, processed_bucket: str, prefix: str) -> dict:
    """BatchCreatePartition's ``PartitionInput`` of the partition stored under ``prefix``."""
    values = partition_values(table, prefix + "_")
    if values is None:
        raise ValueError(f"{prefix!r} is not a partition of table {table}")
    return {
        "Values": values,
        "StorageDescriptor": _storage(
            layout.s3_url(processed_bucket, prefix), TABLES[table].columns
        ),
    }
