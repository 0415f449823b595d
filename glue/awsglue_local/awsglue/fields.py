"""Field paths as Glue writes them (``a.b.c``; a name with dots in backticks: ```a.b`.c``) and the
column expressions that read, set, drop or build them on a Spark DataFrame."""

from __future__ import annotations

from typing import Iterator

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from awsglue import gluetypes


def parts(path: str) -> list[str]:
    """``a.`b.c`.d`` → ``["a", "b.c", "d"]``."""
    out, current, quoted = [], "", False
    for char in path:
        if char == "`":
            quoted = not quoted
        elif char == "." and not quoted:
            out.append(current)
            current = ""
        else:
            current += char
    if quoted:
        raise ValueError(f"unbalanced backtick in field path {path!r}")
    out.append(current)
    return out


def quote(names: list[str]) -> str:
    return ".".join(f"`{n.replace('`', '``')}`" for n in names)


def column(names: list[str]) -> Column:
    return F.col(quote(names))


def field_at(schema: T.StructType, names: list[str]) -> T.StructField | None:
    """The field a path names, or None."""
    current: T.DataType = schema
    found = None
    for name in names:
        if not isinstance(current, T.StructType):
            return None
        match = [f for f in current.fields if f.name.lower() == name.lower()]
        if not match:
            return None
        found = match[0]
        current = found.dataType
    return found


def require(schema: T.StructType, path: str) -> list[str]:
    """The path's parts with the schema's spelling; a clear error naming the path if absent."""
    names = parts(path)
    current: T.DataType = schema
    spelled = []
    for name in names:
        fields = current.fields if isinstance(current, T.StructType) else []
        match = [f for f in fields if f.name.lower() == name.lower()]
        if not match:
            known = ", ".join(f.name for f in fields) or "none"
            raise ValueError(f"no field {path!r} in the frame (fields here: {known})")
        spelled.append(match[0].name)
        current = match[0].dataType
    return spelled


def with_value(df: DataFrame, names: list[str], value: Column, metadata: dict | None = None):
    """``df`` with the field at ``names`` set to ``value`` (structs on the way are kept); a
    top-level field gets ``metadata`` (``{}``: no longer a choice)."""
    if len(names) == 1:
        if metadata is not None:  # Spark keeps a column's metadata unless given some
            value = value.alias(names[0], metadata=metadata or {gluetypes.CHOICE: False})
        return df.withColumn(names[0], value)
    top = names[0]
    return df.withColumn(top, F.col(quote([top])).withField(quote(names[1:]), value))


def without(df: DataFrame, names: list[str]) -> DataFrame:
    if len(names) == 1:
        return df.drop(names[0])
    return df.withColumn(names[0], F.col(quote([names[0]])).dropFields(quote(names[1:])))


def walk(
    schema: T.StructType, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[list[str], T.StructField]]:
    """Every field with its path, parents before children (choices are not entered)."""
    for field in schema.fields:
        path = [*prefix, field.name]
        yield path, field
        if isinstance(field.dataType, T.StructType) and not gluetypes.is_choice(field):
            yield from walk(field.dataType, tuple(path))


def build(tree: dict) -> list[Column]:
    """Columns from a tree ``{name: Column | subtree}``: a subtree becomes a struct."""
    columns = []
    for name, node in tree.items():
        value = node if isinstance(node, Column) else F.struct(*build(node))
        columns.append(value.alias(name))
    return columns


def place(tree: dict, names: list[str], value: Column) -> None:
    for name in names[:-1]:
        node = tree.setdefault(name, {})
        if isinstance(node, Column):
            raise ValueError(f"field {quote(names)} is both a value and a struct")
        tree = node
    tree[names[-1]] = value
