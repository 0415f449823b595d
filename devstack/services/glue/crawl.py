"""One crawl of S3 targets, run in a child process of the Glue service (bounded in memory by its
parent's limit and in time by the parent's timeout): list the objects under each include path,
read a bounded prefix of each (Parquet: its footer), classify them, and group them into tables
and partitions. The result is a plan (plain data); the parent applies it to the Data Catalog.

Grouping, as AWS documents it: the include path is one table when its files have the same format
and alike schemas (or ``TableGroupingPolicy: CombineCompatibleSchemas``) and sit equally deep; its
folders are then partitions (Hive's ``key=value`` names the key, else ``partition_N``). Otherwise
each folder below is looked at the same way, as its own table. ``TableLevelConfiguration`` puts
every table at that absolute level (the bucket is level 1). Files whose names start with ``_`` or
``.`` (Spark's ``_SUCCESS``, hidden files) and empty objects are skipped, as Athena skips them.
"""

from __future__ import annotations

import json
import re
import resource
import zlib
from dataclasses import asdict, dataclass, field

import boto3
from botocore.config import Config

from devstack.services.glue import crawler_inference as infer
from devstack.services.glue import parquet_footer

TEXT_FORMATS = (
    "org.apache.hadoop.mapred.TextInputFormat",
    "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
)
PARQUET_FORMATS = (
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
)
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


class CrawlError(ValueError):
    """A crawl that cannot be done as asked; the message becomes LastCrawl.ErrorMessage."""


@dataclass
class CrawledFile:
    bucket: str
    key: str
    size: int
    folders: list[str]  # below the include path
    inferred: infer.Inferred


@dataclass
class TablePlan:
    name: str
    location: str
    table_input: dict
    partitions: list[dict] = field(default_factory=list)  # PartitionInput
    folders: list[str] = field(default_factory=list)  # every folder read, for the recrawl policy


def split_path(path: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` or ``bucket/a/b`` → (bucket, ``a/b/``)."""
    path = re.sub(r"^s3a?://", "", path)
    bucket, _, prefix = path.partition("/")
    prefix = prefix.strip("/")
    return bucket, prefix + "/" if prefix else ""


def glob_regex(pattern: str) -> re.Pattern:
    """Glue's exclude patterns: ``*`` within a folder, ``**`` across folders, ``?``, ``[…]``
    (``[!…]`` negated), ``{a,b}``."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end]
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = end
        elif ch == "{":
            end = pattern.find("}", i)
            if end < 0:
                out.append(re.escape(ch))
            else:
                out.append(
                    "(" + "|".join(re.escape(a) for a in pattern[i + 1 : end].split(",")) + ")"
                )
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


def sample(s3, bucket: str, key: str, size: int) -> infer.Inferred | None:
    """Classifies one object from its first megabyte (a Parquet file from its footer)."""
    head = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{infer.SAMPLE_BYTES - 1}")
    data = head["Body"].read()
    if data[:4] == parquet_footer.MAGIC and size >= 12:
        tail = (
            data[-parquet_footer.TAIL :]
            if size <= len(data)
            else _range(s3, bucket, key, size - 8, size - 1)
        )
        length = parquet_footer.footer_length(tail)
        start = size - 8 - length
        footer = (
            data[start : size - 8]
            if size <= len(data)
            else _range(s3, bucket, key, start, size - 9)
        )
        found = parquet_footer.schema(footer)
        return infer.Inferred(
            "parquet",
            [(infer.column_name(n), t) for n, t in found.columns],
            found.rows,
            {},
            {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
        )
    compression = "none"
    truncated = size > len(data)
    if data[:2] == b"\x1f\x8b":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = inflater.decompress(data, infer.SAMPLE_BYTES)
        truncated = truncated or bool(inflater.unconsumed_tail) or not inflater.eof
        compression = "gzip"
    text = data.decode("utf-8", errors="replace")
    found = infer.infer_json(text, truncated) or infer.infer_csv(text, truncated)
    if found is not None:
        found.compression = compression
    return found


def _range(s3, bucket: str, key: str, first: int, last: int) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={first}-{last}")["Body"].read()


def list_files(s3, bucket: str, prefix: str, exclusions: list[str]) -> list[dict]:
    patterns = [glob_regex(p) for p in exclusions]
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            relative = obj["Key"][len(prefix) :]
            name = relative.rsplit("/", 1)[-1]
            if not name or obj["Size"] == 0 or name[0] in "_.":
                continue
            if any(p.match(relative) for p in patterns):
                continue
            found.append(obj)
    return found


def _compatible(files: list[CrawledFile], combine: bool) -> bool:
    first = files[0].inferred
    return all(
        f.inferred.classification == first.classification
        and f.inferred.compression == first.compression
        and (combine or infer.similar(f.inferred.columns, first.columns))
        for f in files
    )


def group(files: list[CrawledFile], name: str, location: str, combine: bool) -> list[tuple]:
    """[(table name, location, files, partition keys)] for the files under ``location``."""
    keys = infer.partition_keys([f.folders for f in files])
    if _compatible(files, combine) and keys is not None:
        return [(name, location, files, keys)]
    nested: dict[str, list[CrawledFile]] = {}
    tables = []
    for f in files:
        if f.folders:
            nested.setdefault(f.folders[0], []).append(f)
        else:  # a file beside folders of other shapes: a table of its own
            stem = f.key.rsplit("/", 1)[-1].split(".", 1)[0]
            tables.append((stem, location, [f], []))
    for folder, inside in sorted(nested.items()):
        for f in inside:
            f.folders = f.folders[1:]
        tables += group(inside, folder, f"{location}{folder}/", combine)
    return tables


def table_plan(
    name: str, location: str, files: list[CrawledFile], keys: list[str], crawler: dict, run_id: str
) -> TablePlan:
    kinds = files[0].inferred
    columns = [
        (n, t) for n, t in infer.merge_columns([f.inferred.columns for f in files]) if n not in keys
    ]
    records = sum(f.inferred.records for f in files)
    size = sum(f.size for f in files)
    parameters = {
        "classification": kinds.classification,
        "compressionType": kinds.compression,
        "typeOfData": "file",
        "objectCount": str(len(files)),
        "recordCount": str(records),
        "averageRecordSize": str(size // records if records else 0),
        "sizeKey": str(size),
        "CrawlerSchemaDeserializerVersion": "1.0",
        "CrawlerSchemaSerializerVersion": "1.0",
        "UPDATED_BY_CRAWLER": crawler["Name"],
        "CRAWL_RUN_ID": run_id,
        **kinds.parameters,
    }
    exclusions = sorted(
        {e for t in crawler["Targets"].get("S3Targets", []) for e in t.get("Exclusions", [])}
    )
    if exclusions:
        parameters["exclusions"] = json.dumps(exclusions)
    input_format, output_format = (
        PARQUET_FORMATS if kinds.classification == "parquet" else TEXT_FORMATS
    )
    descriptor = {
        "Columns": [{"Name": n, "Type": t} for n, t in columns],
        "Location": location,
        "InputFormat": input_format,
        "OutputFormat": output_format,
        "Compressed": kinds.compression != "none",
        "NumberOfBuckets": -1,
        "SerdeInfo": kinds.serde,
        "BucketColumns": [],
        "SortColumns": [],
        "Parameters": dict(parameters),
        "StoredAsSubDirectories": False,
    }
    table_input = {
        "Name": infer.table_name(name, crawler.get("TablePrefix", "")),
        "StorageDescriptor": descriptor,
        "PartitionKeys": [{"Name": k, "Type": "string"} for k in keys],
        "TableType": "EXTERNAL_TABLE",
        "Parameters": parameters,
        "Retention": 0,
        "Owner": "owner",
    }
    partitions: dict[tuple, dict] = {}
    for f in files:
        if not keys:
            continue
        values = tuple(infer.partition_values(f.folders))
        partitions.setdefault(
            values,
            {
                "Values": list(values),
                "StorageDescriptor": {
                    **descriptor,
                    "Location": location + "/".join(f.folders) + "/",
                },
                "Parameters": dict(parameters),
            },
        )
    return TablePlan(
        table_input["Name"], location, table_input, list(partitions.values()), _folders(files)
    )


def _folders(files: list[CrawledFile]) -> list[str]:
    return sorted({f"s3://{f.bucket}/{f.key.rsplit('/', 1)[0]}/" for f in files})


def known_table_plan(table: dict, files: list[CrawledFile]) -> TablePlan:
    """New folders of a table an earlier crawl made (``CRAWL_NEW_FOLDERS_ONLY``): partitions
    described as the table is, the table itself left as it is."""
    descriptor = table["StorageDescriptor"]
    location = descriptor["Location"]
    partitions: dict[tuple, dict] = {}
    for f in files:
        relative = f"s3://{f.bucket}/{f.key}"[len(location) :].split("/")[:-1]
        values = tuple(infer.partition_values(relative))
        if len(values) != len(table.get("PartitionKeys", [])) or not values:
            continue
        partitions.setdefault(
            values,
            {
                "Values": list(values),
                "StorageDescriptor": {
                    **descriptor,
                    "Location": location + "/".join(relative) + "/",
                },
                "Parameters": dict(table.get("Parameters", {})),
            },
        )
    return TablePlan(table["Name"], location, table, list(partitions.values()), _folders(files))


def plan(
    s3, crawler: dict, crawled_folders: set[str], run_id: str, say, known: list[dict] = ()
) -> dict:
    """The tables and partitions the crawler's S3 targets hold now (with
    ``CRAWL_NEW_FOLDERS_ONLY``: in folders no crawl read, new partitions of the ``known`` tables
    the crawler made where they lie under one)."""
    configuration = json.loads(crawler.get("Configuration") or "{}")
    grouping = configuration.get("Grouping", {})
    combine = grouping.get("TableGroupingPolicy") == "CombineCompatibleSchemas"
    level = grouping.get("TableLevelConfiguration")
    new_only = crawler.get("RecrawlPolicy", {}).get("RecrawlBehavior") == "CRAWL_NEW_FOLDERS_ONLY"
    tables: list[TablePlan] = []
    skipped = 0
    other = sorted(k for k, v in crawler["Targets"].items() if v and k != "S3Targets")
    if other:  # said, not skipped: a crawl that read nothing of them must not pass for one that did
        raise CrawlError(
            f"only S3 targets are crawled locally; this crawler also has {', '.join(other)}"
        )
    for target in crawler["Targets"].get("S3Targets", []):
        bucket, prefix = split_path(target["Path"])
        crawled = []
        for obj in list_files(s3, bucket, prefix, target.get("Exclusions", [])):
            folder = f"s3://{bucket}/{obj['Key'].rsplit('/', 1)[0]}/"
            if new_only and folder in crawled_folders:
                continue
            try:
                inferred = sample(s3, bucket, obj["Key"], obj["Size"])
            except (parquet_footer.ParquetError, UnicodeError) as exc:
                say(f"WARN : s3://{bucket}/{obj['Key']}: not classified ({exc})")
                inferred = None
            if inferred is None:
                skipped += 1
                say(f"INFO : s3://{bucket}/{obj['Key']}: no built-in classifier matched (UNKNOWN)")
                continue
            relative = obj["Key"][len(prefix) :].split("/")[:-1]
            crawled.append(CrawledFile(bucket, obj["Key"], obj["Size"], relative, inferred))
        if new_only and known:
            by_table: dict[str, list[CrawledFile]] = {}
            for f in list(crawled):
                uri = f"s3://{f.bucket}/{f.key}"
                table = next(
                    (t for t in known if uri.startswith(t["StorageDescriptor"]["Location"])), None
                )
                if table is not None:
                    by_table.setdefault(table["Name"], []).append(f)
                    crawled.remove(f)
            for table in known:
                if table["Name"] in by_table:
                    tables.append(known_table_plan(table, by_table[table["Name"]]))
        if not crawled:
            continue
        if level:
            below = max(int(level) - 1 - len([p for p in prefix.split("/") if p]), 0)
            by_root: dict[tuple, list[CrawledFile]] = {}
            for f in crawled:
                root, f.folders = tuple(f.folders[:below]), f.folders[below:]
                by_root.setdefault(root, []).append(f)
            groups = [
                (
                    (root[-1] if root else (prefix.rstrip("/").rsplit("/", 1)[-1] or bucket)),
                    f"s3://{bucket}/{prefix}{''.join(r + '/' for r in root)}",
                    files,
                    infer.partition_keys([f.folders for f in files]) or [],
                )
                for root, files in sorted(by_root.items())
            ]
        else:
            name = prefix.rstrip("/").rsplit("/", 1)[-1] or bucket
            groups = group(crawled, name, f"s3://{bucket}/{prefix}", combine)
        for name, location, files, keys in groups:
            tables.append(table_plan(name, location, files, keys, crawler, run_id))
    return {"tables": [asdict(t) for t in tables], "skipped": skipped}


def run_in_child(connection, request: dict) -> None:
    """The child process's body: limits, then the plan (or the error) through the pipe."""
    lines: list[str] = []
    try:
        limit = request["memory_bytes"]
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        s3 = boto3.client(
            "s3",
            endpoint_url=request["endpoint"] or None,
            region_name=request["region"],
            config=Config(retries={"mode": "standard", "max_attempts": 5}),
        )
        result = plan(
            s3,
            request["crawler"],
            set(request["crawled_folders"]),
            request["run_id"],
            lines.append,
            request["known_tables"],
        )
        connection.send({"ok": True, "plan": result, "log": lines})
    except CrawlError as exc:
        connection.send({"ok": False, "error": str(exc), "log": lines})
    except MemoryError:
        connection.send(
            {"ok": False, "error": "the crawl ran out of its memory limit", "log": lines}
        )
    except Exception as exc:  # noqa: BLE001 - every failure becomes the crawl's error message
        connection.send({"ok": False, "error": f"{type(exc).__name__}: {exc}", "log": lines})
    finally:
        connection.close()
