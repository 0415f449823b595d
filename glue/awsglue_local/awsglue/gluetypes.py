"""Glue's view of a schema: type names, choice types and the ``printSchema`` layout.

A *choice* is a field whose records hold values of more than one type (a CSV column with numbers
and words). Here it is stored as a Spark struct with one field per type (``long``, ``string``…),
marked as a choice in the field's metadata; ``resolveChoice`` turns it into a plain column, and
``toDF()`` hands it over as that struct. Records typed one by one (JSON, ``map``) are inferred
with ``infer``/``merge`` over plain Python values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from pyspark.sql import types as T

CHOICE = "glue_choice"  # StructField metadata: this struct is a choice between its fields' types

_GLUE_NAMES = {
    T.LongType: "long",
    T.IntegerType: "int",
    T.ShortType: "short",
    T.ByteType: "byte",
    T.DoubleType: "double",
    T.FloatType: "float",
    T.StringType: "string",
    T.BooleanType: "boolean",
    T.TimestampType: "timestamp",
    T.TimestampNTZType: "timestamp",
    T.DateType: "date",
    T.BinaryType: "binary",
    T.NullType: "null",
}
# Glue's type names as Spark SQL names them (casts, mappings, resolveChoice actions).
SQL_NAMES = {
    "long": "bigint",
    "bigint": "bigint",
    "int": "int",
    "integer": "int",
    "short": "smallint",
    "smallint": "smallint",
    "byte": "tinyint",
    "tinyint": "tinyint",
    "double": "double",
    "float": "float",
    "string": "string",
    "varchar": "string",
    "char": "string",
    "boolean": "boolean",
    "timestamp": "timestamp",
    "date": "date",
    "binary": "binary",
}


def sql_type(glue_name: str) -> str:
    """The Spark SQL type for a Glue type name (``long`` → ``bigint``; ``decimal(10,2)`` as is)."""
    name = glue_name.strip().lower()
    if name.startswith(("decimal", "array", "struct", "map")):
        return name
    if name not in SQL_NAMES:
        raise ValueError(f"unknown Glue type {glue_name!r}; known: {', '.join(sorted(SQL_NAMES))}")
    return SQL_NAMES[name]


def is_choice(field: T.StructField) -> bool:
    return bool(field.metadata.get(CHOICE)) and isinstance(field.dataType, T.StructType)


def type_name(data_type: T.DataType) -> str:
    if isinstance(data_type, T.DecimalType):
        return f"decimal({data_type.precision},{data_type.scale})"
    for spark_type, name in _GLUE_NAMES.items():
        if isinstance(data_type, spark_type):
            return name
    return {T.StructType: "struct", T.ArrayType: "array", T.MapType: "map"}.get(
        type(data_type), data_type.simpleString()
    )


def schema_lines(schema: T.StructType) -> list[str]:
    """``printSchema``'s lines: ``root``, then ``|-- name: type`` with nested members indented
    by ``|    `` per level (a choice lists its types, an array its ``element``)."""
    lines = ["root"]

    def walk(name: str, data_type: T.DataType, choice: bool, depth: int) -> None:
        indent = "|    " * depth
        shown = "choice" if choice else type_name(data_type)
        lines.append(f"{indent}|-- {name}: {shown}" if name else f"{indent}|-- {shown}")
        if choice:
            for option in data_type.fields:
                walk("", option.dataType, False, depth + 1)
        elif isinstance(data_type, T.StructType):
            for field in data_type.fields:
                walk(field.name, field.dataType, is_choice(field), depth + 1)
        elif isinstance(data_type, T.ArrayType):
            walk("element", data_type.elementType, False, depth + 1)
        elif isinstance(data_type, T.MapType):
            walk("keyType", data_type.keyType, False, depth + 1)
            walk("valueType", data_type.valueType, False, depth + 1)

    for field in schema.fields:
        walk(field.name, field.dataType, is_choice(field), 0)
    return lines


# ----------------------------------------------------------------- records typed one by one
@dataclass(frozen=True)
class Struct:
    fields: tuple[tuple[str, GlueType], ...]


@dataclass(frozen=True)
class Array:
    element: GlueType


@dataclass(frozen=True)
class Choice:
    options: tuple[GlueType, ...]  # one per kind, in kind order


GlueType = Union[str, Struct, Array, Choice]  # str: null, boolean, long, double, string


def kind(glue_type: GlueType) -> str:
    return {Struct: "struct", Array: "array"}.get(type(glue_type), glue_type)  # type: ignore[arg-type]


def infer(value: Any) -> GlueType:
    """The type of one record's value, as Glue types a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return Struct(tuple((str(k), infer(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        element: GlueType = "null"
        for item in value:
            element = merge(element, infer(item))
        return Array(element)
    return "string"


def merge(a: GlueType, b: GlueType) -> GlueType:
    """The type of a field seen as ``a`` in some records and ``b`` in others: equal kinds merge
    (long and double make double), different kinds make a choice."""
    if a == "null":
        return b
    if b == "null" or a == b:
        return a
    options: dict[str, GlueType] = {}
    for option in (*_options(a), *_options(b)):
        name = kind(option)
        options[name] = _merge_same_kind(options[name], option) if name in options else option
    if "long" in options and "double" in options:
        del options["long"]  # numbers widen before they choose
    if len(options) == 1:
        return next(iter(options.values()))
    return Choice(tuple(options[name] for name in sorted(options)))


def _options(t: GlueType) -> tuple[GlueType, ...]:
    return t.options if isinstance(t, Choice) else (t,)


def _merge_same_kind(a: GlueType, b: GlueType) -> GlueType:
    if isinstance(a, Struct) and isinstance(b, Struct):
        fields = dict(a.fields)
        for name, field_type in b.fields:
            fields[name] = merge(fields[name], field_type) if name in fields else field_type
        return Struct(tuple(fields.items()))
    if isinstance(a, Array) and isinstance(b, Array):
        return Array(merge(a.element, b.element))
    return a


_SPARK = {
    "null": T.StringType(),  # an all-null field: kept as a nullable string (DropNullFields drops it)
    "boolean": T.BooleanType(),
    "long": T.LongType(),
    "double": T.DoubleType(),
    "string": T.StringType(),
    "timestamp": T.TimestampType(),
    "date": T.DateType(),
}


def to_spark(glue_type: GlueType) -> T.DataType:
    if isinstance(glue_type, Struct):
        return T.StructType([spark_field(n, t) for n, t in glue_type.fields])
    if isinstance(glue_type, Array):
        return T.ArrayType(to_spark(glue_type.element), True)
    if isinstance(glue_type, Choice):
        return T.StructType([T.StructField(kind(o), to_spark(o), True) for o in glue_type.options])
    return _SPARK[glue_type]


def spark_field(name: str, glue_type: GlueType) -> T.StructField:
    metadata = {CHOICE: True} if isinstance(glue_type, Choice) else {}
    return T.StructField(name, to_spark(glue_type), True, metadata)


def conform(value: Any, glue_type: GlueType) -> Any:
    """One record's value in the shape of the frame's type (a choice: its value under its kind)."""
    if value is None:
        return None
    if isinstance(glue_type, Choice):
        mine = kind(infer(value))
        mine = (
            "double"
            if mine == "long" and any(kind(o) == "double" for o in glue_type.options)
            else mine
        )
        return tuple(
            conform(value, option) if kind(option) == mine else None for option in glue_type.options
        )
    if isinstance(glue_type, Struct):
        record = value if isinstance(value, dict) else {}
        return tuple(conform(record.get(name), t) for name, t in glue_type.fields)
    if isinstance(glue_type, Array):
        return [conform(item, glue_type.element) for item in value]
    if glue_type == "double" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if glue_type == "string" and not isinstance(value, str):
        return str(value)
    return value
