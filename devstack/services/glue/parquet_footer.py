"""A Parquet file's schema from its footer, as a crawler reads it: the ``FileMetaData`` Thrift
struct (compact protocol) at the end of the file, decoded with the standard library from the
Apache Parquet format specification (``parquet.thrift``), and its columns in Glue's type names.

The file ends with the footer, its length (4 bytes, little-endian) and ``PAR1``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAGIC = b"PAR1"
TAIL = 8  # footer length + magic

# parquet.thrift: physical types, converted types, repetition
BOOLEAN, INT32, INT64, INT96, FLOAT, DOUBLE, BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY = range(8)
UTF8, MAP, MAP_KEY_VALUE, LIST, ENUM, DECIMAL, DATE = range(7)
TIMESTAMP_MILLIS, TIMESTAMP_MICROS = 9, 10
INT_8, INT_16 = 15, 16
JSON = 19
REPEATED = 2
# LogicalType union members
LOGICAL_STRING, LOGICAL_MAP, LOGICAL_LIST, LOGICAL_ENUM, LOGICAL_DECIMAL, LOGICAL_DATE = range(1, 7)
LOGICAL_TIMESTAMP, LOGICAL_INTEGER, LOGICAL_JSON = 8, 10, 12


class ParquetError(ValueError):
    """Not a Parquet file, or a footer this reader cannot decode."""


class _Reader:
    """Thrift's compact protocol, the parts a FileMetaData uses."""

    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def byte(self) -> int:
        if self.at >= len(self.data):
            raise ParquetError("footer ends early")
        self.at += 1
        return self.data[self.at - 1]

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def binary(self) -> bytes:
        size = self.varint()
        self.at += size
        if self.at > len(self.data):
            raise ParquetError("footer ends early")
        return self.data[self.at - size : self.at]

    def value(self, kind: int):
        if kind in (1, 2):  # booleans inside a struct: the type is the value
            return kind == 1
        if kind == 3:
            return struct.unpack("b", bytes([self.byte()]))[0]
        if kind in (4, 5, 6):
            return self.zigzag()
        if kind == 7:
            self.at += 8
            return struct.unpack("<d", self.data[self.at - 8 : self.at])[0]
        if kind == 8:
            return self.binary()
        if kind in (9, 10):
            return self.list()
        if kind == 11:
            return self.map()
        if kind == 12:
            return self.struct()
        raise ParquetError(f"unknown Thrift type {kind}")

    def list(self) -> list:
        header = self.byte()
        size, kind = header >> 4, header & 0x0F
        if size == 15:
            size = self.varint()
        if kind in (1, 2):  # booleans in a list are one byte each
            return [self.byte() == 1 for _ in range(size)]
        return [self.value(kind) for _ in range(size)]

    def map(self) -> dict:
        size = self.varint()
        if not size:
            return {}
        kinds = self.byte()
        return {self.value(kinds >> 4): self.value(kinds & 0x0F) for _ in range(size)}

    def struct(self) -> dict[int, object]:
        fields, last = {}, 0
        while True:
            header = self.byte()
            if header == 0:
                return fields
            delta, kind = header >> 4, header & 0x0F
            last = last + delta if delta else self.zigzag()
            fields[last] = self.value(kind)


@dataclass
class Element:
    name: str
    physical: int | None
    repetition: int | None
    converted: int | None
    logical: dict
    scale: int
    precision: int
    children: list[Element] = field(default_factory=list)


def _elements(schema: list[dict]) -> Element:
    """The flat, depth-first schema list as a tree (each group says how many children)."""
    items = iter(schema)

    def build() -> Element:
        raw = next(items)
        element = Element(
            name=raw.get(4, b"").decode(errors="replace"),
            physical=raw.get(1),
            repetition=raw.get(3),
            converted=raw.get(6),
            logical=raw.get(10) or {},
            scale=raw.get(7, 0),
            precision=raw.get(8, 0),
        )
        element.children = [build() for _ in range(raw.get(5, 0) or 0)]
        return element

    try:
        return build()
    except StopIteration as exc:
        raise ParquetError("the schema lists fewer elements than its groups name") from exc


def _decimal(element: Element) -> str:
    spec = element.logical.get(LOGICAL_DECIMAL) or {}
    return f"decimal({spec.get(2, element.precision)},{spec.get(1, element.scale)})"


def _primitive(e: Element) -> str:
    logical, converted = e.logical, e.converted
    if converted == DECIMAL or LOGICAL_DECIMAL in logical:
        return _decimal(e)
    if e.physical == BOOLEAN:
        return "boolean"
    if e.physical == INT32:
        if converted == DATE or LOGICAL_DATE in logical:
            return "date"
        width = (logical.get(LOGICAL_INTEGER) or {}).get(1)
        if converted == INT_8 or width == 8:
            return "tinyint"
        if converted == INT_16 or width == 16:
            return "smallint"
        return "int"
    if e.physical == INT64:
        if converted in (TIMESTAMP_MILLIS, TIMESTAMP_MICROS) or LOGICAL_TIMESTAMP in logical:
            return "timestamp"
        return "bigint"
    if e.physical == INT96:
        return "timestamp"
    if e.physical == FLOAT:
        return "float"
    if e.physical == DOUBLE:
        return "double"
    if e.physical == BYTE_ARRAY and (
        converted in (UTF8, ENUM, JSON)
        or logical.keys() & {LOGICAL_STRING, LOGICAL_ENUM, LOGICAL_JSON}
    ):
        return "string"
    return "binary"


def glue_type(e: Element) -> str:
    """The element's type as the Data Catalog writes it (``struct<a:int>``, ``array<string>``)."""
    if not e.children:
        base = _primitive(e)
        return f"array<{base}>" if e.repetition == REPEATED else base
    if e.converted in (MAP, MAP_KEY_VALUE) or LOGICAL_MAP in e.logical:
        entry = e.children[0]
        if len(entry.children) == 2:
            key, value = entry.children
            return f"map<{glue_type(key)},{glue_type(value)}>"
    if e.converted == LIST or LOGICAL_LIST in e.logical:
        repeated = e.children[0]
        if not repeated.children:
            return f"array<{_primitive(repeated)}>"
        # the specification's backward-compatibility rules: a one-field group named "array" or
        # "<list>_tuple", or a group of several fields, is itself the element
        if len(repeated.children) == 1 and repeated.name not in ("array", f"{e.name}_tuple"):
            return f"array<{glue_type(repeated.children[0])}>"
        return f"array<{_struct(repeated)}>"
    inner = _struct(e)
    return f"array<{inner}>" if e.repetition == REPEATED else inner


def _struct(e: Element) -> str:
    return "struct<" + ",".join(f"{c.name}:{glue_type(c)}" for c in e.children) + ">"


@dataclass(frozen=True)
class ParquetSchema:
    columns: list[tuple[str, str]]
    rows: int


def footer_length(tail: bytes) -> int:
    """The footer's size from the file's last 8 bytes."""
    if len(tail) < TAIL or tail[-4:] != MAGIC:
        raise ParquetError("no PAR1 magic at the end of the file")
    return struct.unpack("<i", tail[-8:-4])[0]


def schema(footer: bytes) -> ParquetSchema:
    """The columns (name, Glue type) and row count of a footer (the bytes before its length)."""
    meta = _Reader(footer).struct()
    if 2 not in meta or not meta[2]:
        raise ParquetError("the footer has no schema")
    root = _elements(meta[2])
    return ParquetSchema([(c.name, glue_type(c)) for c in root.children], int(meta.get(3, 0)))
