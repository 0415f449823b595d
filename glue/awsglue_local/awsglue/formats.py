"""Reading files into a typed frame and writing a frame, per Glue format (csv, json, parquet,
orc). CSV and JSON are typed value by value, as Glue types them: a field holding numbers in
some records and text in others becomes a choice."""

from __future__ import annotations

import json
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from awsglue import gluetypes, records

LONG = r"^\s*[+-]?\d{1,18}\s*$"
DOUBLE = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"
FORMATS = ("csv", "json", "parquet", "glueparquet", "orc")


def read(
    spark: SparkSession, files: list[str], format: str, options: dict[str, Any], names=None
) -> DataFrame:
    """The files' records; ``names`` (a catalog's columns) name CSV fields without a header."""
    format = (format or "").lower()
    if format not in FORMATS:
        raise ValueError(f"unsupported format {format!r}; supported: {', '.join(FORMATS)}")
    if not files:
        return spark.createDataFrame([], T.StructType([]))
    paths = list(files)
    if format == "csv":
        return type_text_columns(read_csv_text(spark, paths, options, names))
    if format == "json":
        return read_json(spark, paths, options)
    if format == "orc":
        return spark.read.orc(*paths)
    return spark.read.parquet(*paths)


def read_csv_text(spark: SparkSession, paths: list[str], options: dict, names=None) -> DataFrame:
    header = _flag(options.get("withHeader", False))
    reader = (
        spark.read.option("header", header)
        .option("sep", options.get("separator", ","))
        .option("quote", options.get("quoteChar", '"'))
        .option("escape", options.get("escaper", "\\"))
        .option("multiLine", _flag(options.get("multiLine", False)))
        .option("inferSchema", False)
        .option("mode", "PERMISSIVE")
    )
    df = reader.csv(paths)
    if int(options.get("skipFirst", 0) or 0) and not header:
        df = df.rdd.zipWithIndex().filter(lambda p: p[1] > 0).map(lambda p: p[0]).toDF(df.schema)
    if names and not header:
        names = list(names)[: len(df.columns)]
        df = df.toDF(*names, *df.columns[len(names) :])
    elif not header:  # Glue names a headerless file's fields col0, col1, ...
        df = df.toDF(*[f"col{i}" for i in range(len(df.columns))])
    return df


def type_text_columns(df: DataFrame, keep: list[str] = ()) -> DataFrame:
    """Each text column (but ``keep``) as the type its values have: long, double, string, or a
    choice of a number and a string where both occur."""
    typed = [c for c in df.columns if c not in keep]
    if not typed:
        return df
    checks = []
    for i, name in enumerate(df.columns):
        if name in keep:
            continue
        value = F.col(f"`{name}`")
        is_long, is_double = value.rlike(LONG), value.rlike(DOUBLE)
        checks += [
            F.max(F.when(is_long, 1)).alias(f"l{i}"),
            F.max(F.when(is_double & ~is_long, 1)).alias(f"d{i}"),
            F.max(F.when(value.isNotNull() & ~is_double, 1)).alias(f"s{i}"),
        ]
    seen = df.agg(*checks).first()
    columns = []
    for i, name in enumerate(df.columns):
        value = F.col(f"`{name}`")
        if name in keep:
            columns.append(value)
            continue
        number = "double" if seen[f"d{i}"] else ("long" if seen[f"l{i}"] else None)
        text = bool(seen[f"s{i}"])
        if number and text:
            is_number = value.rlike(DOUBLE)
            choice = F.struct(
                F.when(is_number, F.trim(value).cast(gluetypes.sql_type(number))).alias(number),
                F.when(~is_number, value).alias("string"),
            )
            columns.append(choice.alias(name, metadata={gluetypes.CHOICE: True}))
        elif number:
            columns.append(F.trim(value).cast(gluetypes.sql_type(number)).alias(name))
        else:
            columns.append(value.alias(name))
    return df.select(*columns)


def read_json(spark: SparkSession, paths: list[str], options: dict) -> DataFrame:
    json_path = options.get("jsonPath", "")
    if _flag(options.get("multiline", options.get("multiLine", False))):
        texts = spark.sparkContext.wholeTextFiles(",".join(paths)).map(lambda p: p[1])
    else:
        texts = spark.read.text(paths).rdd.map(lambda r: r[0]).filter(lambda t: t and t.strip())
    rows = texts.flatMap(lambda text: select_json(json.loads(text), json_path))
    return records.to_frame(spark, rows)


def select_json(document: Any, json_path: str) -> list[dict]:
    """The records a ``jsonPath`` (``$``, ``$.a.b``, ``$[*]``, ``$.a[*]``) picks from a document."""
    steps = [s for s in (json_path or "$").lstrip("$").replace("[*]", ".[*]").split(".") if s]
    current = [document]
    for step in steps:
        if step == "[*]":
            current = [item for value in current if isinstance(value, list) for item in value]
        else:
            current = [v[step] for v in current if isinstance(v, dict) and step in v]
    out = []
    for value in current:
        if isinstance(value, list) and not steps:
            out.extend(v for v in value if isinstance(v, dict))
        elif isinstance(value, dict):
            out.append(value)
    return out


def write(df: DataFrame, path: str, format: str, options: dict, partition_keys: list[str]) -> None:
    format = (format or "").lower()
    if format not in FORMATS:
        raise ValueError(f"unsupported format {format!r}; supported: {', '.join(FORMATS)}")
    writer = df.write.mode("append")
    if partition_keys:
        missing = [k for k in partition_keys if k not in df.columns]
        if missing:
            raise ValueError(f"partitionKeys {missing} are not fields of the frame ({df.columns})")
        writer = writer.partitionBy(*partition_keys)
    if options.get("compression"):
        writer = writer.option("compression", options["compression"])
    if format == "csv":
        nested = [
            f.name
            for f in df.schema.fields
            if isinstance(f.dataType, (T.StructType, T.ArrayType, T.MapType))
        ]
        if nested:
            raise ValueError(
                f"csv cannot hold the nested or choice fields {nested}: resolve or flatten them first"
            )
        writer.option("header", _flag(options.get("writeHeader", True))).option(
            "sep", options.get("separator", ",")
        ).option("quote", options.get("quoteChar", '"')).csv(path)
    elif format == "json":
        writer.json(path)
    elif format == "orc":
        writer.orc(path)
    else:
        writer.parquet(path)


def _flag(value) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"
