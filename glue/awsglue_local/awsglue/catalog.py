"""What the ETL library asks of the Data Catalog (boto3's ``glue`` client, so the endpoint is
whatever the run's environment names): a table's storage, its partitions, and the partitions and
columns a write adds."""

from __future__ import annotations

from dataclasses import dataclass

import boto3
from pyspark.sql import types as T

# Storage as Glue's catalog describes each format (what a crawler or a sink writes).
STORAGE = {
    "parquet": (
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
    ),
    "orc": (
        "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat",
        "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat",
        "org.apache.hadoop.hive.ql.io.orc.OrcSerde",
    ),
    "csv": (
        "org.apache.hadoop.mapred.TextInputFormat",
        "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
    ),
    "json": (
        "org.apache.hadoop.mapred.TextInputFormat",
        "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        "org.openx.data.jsonserde.JsonSerDe",
    ),
}
_PARTITION_ESCAPES = set("\"#%'*/:=?\\\x7f{[]^")


@dataclass(frozen=True)
class Table:
    database: str
    name: str
    location: str
    format: str  # csv, json, parquet, orc
    columns: list[dict]
    partition_keys: list[dict]
    options: dict  # Glue format options from the SerDe (separator, header, quote, escape)
    raw: dict


def client(catalog_id=None):
    return boto3.client("glue")


def table(database: str, name: str, catalog_id=None, glue=None) -> Table:
    glue = glue or client()
    kwargs = {"DatabaseName": database, "Name": name}
    if catalog_id:
        kwargs["CatalogId"] = catalog_id
    raw = glue.get_table(**kwargs)["Table"]
    storage = raw.get("StorageDescriptor", {})
    serde = storage.get("SerdeInfo", {})
    parameters = {**raw.get("Parameters", {}), **storage.get("Parameters", {})}
    return Table(
        database,
        name,
        storage.get("Location", ""),
        table_format(parameters, serde, storage),
        storage.get("Columns", []),
        raw.get("PartitionKeys", []),
        serde_options(parameters, serde.get("Parameters", {})),
        raw,
    )


def table_format(parameters: dict, serde: dict, storage: dict) -> str:
    classification = parameters.get("classification", "").lower()
    if classification in STORAGE:
        return classification
    library = (serde.get("SerializationLibrary") or "").lower()
    for name, (input_format, _, serde_class) in STORAGE.items():
        if (
            library == serde_class.lower()
            and name != "json"
            or storage.get("InputFormat") == input_format
            and name in ("parquet", "orc")
        ):
            return name
    if "json" in library:
        return "json"
    if "csv" in library or "lazysimple" in library:
        return "csv"
    raise ValueError(
        f"cannot tell the table's format: classification {classification!r}, SerDe {library!r}"
    )


def serde_options(parameters: dict, serde: dict) -> dict:
    """Glue's csv format options from a table's SerDe parameters (LazySimpleSerDe, OpenCSVSerde)."""
    options = {}
    separator = serde.get("field.delim") or serde.get("separatorChar")
    if separator:
        options["separator"] = separator
    if serde.get("quoteChar"):
        options["quoteChar"] = serde["quoteChar"]
    if serde.get("escapeChar"):
        options["escaper"] = serde["escapeChar"]
    if str(parameters.get("skip.header.line.count", "0")) == "1":
        options["withHeader"] = True
    return options


def partitions(found: Table, glue=None, catalog_id=None) -> list[dict]:
    glue = glue or client()
    kwargs = {"DatabaseName": found.database, "TableName": found.name}
    if catalog_id:
        kwargs["CatalogId"] = catalog_id
    out = []
    for page in glue.get_paginator("get_partitions").paginate(**kwargs):
        out.extend(page.get("Partitions", []))
    return out


def escape_partition_value(value: str) -> str:
    """A partition value as Hive and Spark write it in a folder name (``a/b`` → ``a%2Fb``)."""
    return "".join(f"%{ord(c):02X}" if c in _PARTITION_ESCAPES or ord(c) < 32 else c for c in value)


def hive_type(data_type: T.DataType) -> str:
    return data_type.simpleString()


def storage_descriptor(location: str, format: str, columns: list[dict], header: bool) -> dict:
    input_format, output_format, serde = STORAGE["parquet" if format == "glueparquet" else format]
    parameters = {"field.delim": ","} if format == "csv" else {}
    return {
        "Columns": columns,
        "Location": location,
        "InputFormat": input_format,
        "OutputFormat": output_format,
        "SerdeInfo": {"SerializationLibrary": serde, "Parameters": parameters},
        "Parameters": {"classification": _classification(format)},
    }


def _classification(format: str) -> str:
    return "parquet" if format == "glueparquet" else format


def ensure_table(
    database: str,
    name: str,
    location: str,
    format: str,
    schema: T.StructType,
    partition_keys: list[str],
    update_columns: bool,
    glue=None,
) -> dict:
    """The table, created if missing (columns from the frame); with ``update_columns`` new
    columns are added to its definition (``UPDATE_IN_DATABASE``)."""
    glue = glue or client()
    columns = [
        {"Name": f.name, "Type": hive_type(f.dataType)}
        for f in schema.fields
        if f.name not in partition_keys
    ]
    keys = [{"Name": k, "Type": hive_type(schema[k].dataType)} for k in partition_keys]
    try:
        current = glue.get_table(DatabaseName=database, Name=name)["Table"]
    except glue.exceptions.EntityNotFoundException:
        table_input = {
            "Name": name,
            "TableType": "EXTERNAL_TABLE",
            "PartitionKeys": keys,
            "Parameters": {"classification": _classification(format)},
            "StorageDescriptor": storage_descriptor(location, format, columns, True),
        }
        glue.create_table(DatabaseName=database, TableInput=table_input)
        return table_input
    if update_columns:
        storage = current.get("StorageDescriptor", {})
        known = {c["Name"].lower() for c in storage.get("Columns", [])}
        added = [c for c in columns if c["Name"].lower() not in known]
        if added:
            table_input = {
                k: v
                for k, v in current.items()
                if k
                in (
                    "Name",
                    "Description",
                    "Owner",
                    "Retention",
                    "StorageDescriptor",
                    "PartitionKeys",
                    "TableType",
                    "Parameters",
                )
            }
            table_input["StorageDescriptor"] = {
                **storage,
                "Columns": [*storage.get("Columns", []), *added],
            }
            glue.update_table(DatabaseName=database, TableInput=table_input)
            return table_input
    return current


def add_partitions(database: str, table_def: dict, values: list[list[str]], glue=None) -> int:
    """Registers the partitions the catalog lacks (100 a call, Glue's limit); how many."""
    glue = glue or client()
    storage = table_def["StorageDescriptor"]
    keys = [k["Name"] for k in table_def.get("PartitionKeys", [])]
    inputs = []
    for partition in values:
        folder = "/".join(f"{k}={escape_partition_value(v)}" for k, v in zip(keys, partition))
        location = storage["Location"].rstrip("/") + "/" + folder + "/"
        inputs.append({"Values": partition, "StorageDescriptor": {**storage, "Location": location}})
    added = 0
    for start in range(0, len(inputs), 100):
        reply = glue.batch_create_partition(
            DatabaseName=database,
            TableName=table_def["Name"],
            PartitionInputList=inputs[start : start + 100],
        )
        failed = [
            e
            for e in reply.get("Errors", [])
            if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"
        ]
        if failed:
            raise RuntimeError(f"could not register partitions: {failed[:3]}")
        added += len(inputs[start : start + 100]) - len(reply.get("Errors", []))
    return added


def column_types(found: Table) -> dict[str, str]:
    return {c["Name"].lower(): c["Type"] for c in [*found.columns, *found.partition_keys]}
