"""Records as Glue hands them to ``map`` and ``filter`` functions (dicts whose choice fields hold
their one value) and back into a typed frame, each record typed on its own."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from awsglue import gluetypes


class DynamicRecord(dict):
    """One record: a dict of its fields (nested structs are dicts, arrays lists)."""


def from_row(value: Any, data_type: T.DataType, choice: bool = False) -> Any:
    if value is None:
        return None
    if choice:
        for option, item in zip(data_type.fields, value):
            if item is not None:
                return from_row(item, option.dataType)
        return None
    if isinstance(data_type, T.StructType):
        return DynamicRecord(
            (f.name, from_row(v, f.dataType, gluetypes.is_choice(f)))
            for f, v in zip(data_type.fields, value)
        )
    if isinstance(data_type, T.ArrayType):
        return [from_row(v, data_type.elementType) for v in value]
    if isinstance(data_type, T.MapType):
        return {k: from_row(v, data_type.valueType) for k, v in value.items()}
    return value


def infer(value: Any) -> gluetypes.GlueType:
    """``gluetypes.infer`` knowing the values Spark rows carry (times, decimals)."""
    if isinstance(value, datetime.datetime):
        return "timestamp"
    if isinstance(value, datetime.date):
        return "date"
    if isinstance(value, decimal.Decimal):
        return "double"
    if isinstance(value, dict):
        return gluetypes.Struct(tuple((str(k), infer(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        element: gluetypes.GlueType = "null"
        for item in value:
            element = gluetypes.merge(element, infer(item))
        return gluetypes.Array(element)
    return gluetypes.infer(value)


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def to_frame(spark: SparkSession, records, like: T.StructType | None = None) -> DataFrame:
    """A frame from an RDD of dicts, its schema the merge of every record's own type; fields of
    ``like`` (the frame the records came from) keep their order, and their type where no record
    holds a value."""
    records = records.map(_plain).cache()
    merged = records.map(infer).fold("null", gluetypes.merge)
    if not isinstance(merged, gluetypes.Struct):
        merged = gluetypes.Struct(())
    fields = dict(merged.fields)
    before = {f.name: f for f in (like.fields if like else [])}
    names = [n for n in before if n in fields]
    names += [n for n in fields if n not in names]
    glue_type = gluetypes.Struct(tuple((n, fields[n]) for n in names))
    schema = T.StructType(
        [
            before[n] if t == "null" and n in before else gluetypes.spark_field(n, t)
            for n, t in glue_type.fields
        ]
    )
    rows = records.map(lambda record: gluetypes.conform(record, glue_type))
    return spark.createDataFrame(rows, schema)
