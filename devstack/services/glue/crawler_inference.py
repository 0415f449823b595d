"""What a crawler infers from a file's first bytes, as AWS documents its built-in classifiers, and
how files become tables and partitions. Pure functions over bytes and lists, no I/O.

- CSV: delimiters ``,`` ``|`` tab ``;`` Ctrl-A tried in that order; at least two columns and two
  rows; types bigint, double, boolean, string (Glue's crawler gives dates and times as string);
  the first row is a header only when each of its columns is a string under 150 characters
  (the last may be empty) and some data row has a column that is not a string; without one the
  columns are ``col1``, ``col2``… (the documentation's names).
- JSON: one document or JSON lines; objects become ``struct<…>``, lists ``array<…>``, numbers
  int, bigint or double.
- Parquet: the footer's schema (``parquet_footer``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field

DELIMITERS = (",", "|", "\t", ";", "\x01")
MAX_RECORDS = 1000  # a crawler reads the first 1,000 records or 1 MB of a file
SAMPLE_BYTES = 1 << 20
MAX_HEADER_CHARS = 150
SIMILARITY = 0.7  # schemas this alike (shared columns / all columns) are one table's
_BIGINT = re.compile(r"^[+-]?\d{1,19}$")
_DOUBLE = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
_NAME_CHARS = re.compile(r"^[^\x00-\x1f\x7f]+$")
_NUMERIC = {"int": 0, "bigint": 1, "double": 2}


@dataclass
class Inferred:
    """One file's classification, columns and the table parameters the classifier sets."""

    classification: str  # csv | json | parquet
    columns: list[tuple[str, str]]
    records: int
    parameters: dict[str, str] = field(default_factory=dict)
    serde: dict = field(default_factory=dict)
    compression: str = "none"


# ------------------------------------------------------------------------------- types
def merge_types(a: str | None, b: str | None) -> str | None:
    """The type holding both (None: no value seen yet)."""
    if a is None or a == b:
        return b
    if b is None:
        return a
    if a in _NUMERIC and b in _NUMERIC:
        return max(a, b, key=_NUMERIC.get)
    if a.startswith("struct<") and b.startswith("struct<"):
        fields_a, fields_b = dict(struct_fields(a)), dict(struct_fields(b))
        merged = {**fields_a}
        for name, kind in fields_b.items():
            merged[name] = merge_types(fields_a.get(name), kind)
        return "struct<" + ",".join(f"{n}:{t}" for n, t in merged.items()) + ">"
    if a.startswith("array<") and b.startswith("array<"):
        return f"array<{merge_types(a[6:-1], b[6:-1])}>"
    return "string"


def struct_fields(kind: str) -> list[tuple[str, str]]:
    """``struct<a:int,b:array<string>>`` → [(a, int), (b, array<string>)]."""
    body, out, depth, start = kind[7:-1], [], 0, 0
    for i, ch in enumerate(body + ","):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "," and depth == 0:
            name, _, inner = body[start:i].partition(":")
            out.append((name, inner))
            start = i + 1
    return [f for f in out if f[0]]


def text_type(value: str) -> str | None:
    """A CSV value's type (None for an empty value: it says nothing)."""
    value = value.strip()
    if not value:
        return None
    if _BIGINT.match(value) and -(2**63) <= int(value) < 2**63:
        return "bigint"
    if _DOUBLE.match(value):
        return "double"
    if value.lower() in ("true", "false"):
        return "boolean"
    return "string"


def json_type(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int" if -(2**31) <= value < 2**31 else "bigint"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        fields_ = [(k, json_type(v) or "string") for k, v in value.items()]
        return "struct<" + ",".join(f"{k}:{t}" for k, t in fields_) + ">"
    if isinstance(value, list):
        element = None
        for item in value:
            element = merge_types(element, json_type(item))
        return f"array<{element or 'string'}>"
    return "string"


def column_name(raw: str) -> str:
    """As the Data Catalog stores names: lower case."""
    return raw.strip().lower()


# --------------------------------------------------------------------------------- csv
def _complete_lines(text: str, truncated: bool) -> list[str]:
    lines = text.splitlines()
    if truncated and lines:
        lines = lines[:-1]  # cut mid-record by the sample's end
    return [line for line in lines if line.strip()][: MAX_RECORDS + 1]


def infer_csv(text: str, truncated: bool = False) -> Inferred | None:
    lines = _complete_lines(text, truncated)
    if len(lines) < 2:
        return None
    for delimiter in DELIMITERS:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
        width = len(rows[0])
        if width < 2 or any(len(r) != width for r in rows):
            continue
        return _csv_table(rows, delimiter, quoted='"' in text)
    return None


def _csv_table(rows: list[list[str]], delimiter: str, quoted: bool) -> Inferred:
    first, data = rows[0], rows[1:]
    types: list[str | None] = [None] * len(first)
    for row in data:
        types = [merge_types(t, text_type(v)) for t, v in zip(types, row)]
    header = (
        all(text_type(v) == "string" for v in first[:-1])
        and text_type(first[-1]) in ("string", None)
        and all(len(v) < MAX_HEADER_CHARS for v in first[:-1])
        and all(_NAME_CHARS.match(v) for v in first[:-1])
        and any(t not in ("string", None) for t in types)
    )
    if header:
        names = [column_name(v) or f"col{i + 1}" for i, v in enumerate(first)]
    else:
        names = [f"col{i + 1}" for i in range(len(first))]
        for row in rows[:1]:
            types = [merge_types(t, text_type(v)) for t, v in zip(types, row)]
    parameters = {
        "delimiter": delimiter,
        "areColumnsQuoted": str(quoted).lower(),
        "columnsOrdered": "true",
    }
    if header:
        parameters["skip.header.line.count"] = "1"
    return Inferred(
        "csv",
        [(n, t or "string") for n, t in zip(names, types)],
        len(data) if header else len(rows),
        parameters,
        {
            "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
            "Parameters": {"field.delim": delimiter},
        },
    )


# -------------------------------------------------------------------------------- json
def infer_json(text: str, truncated: bool = False) -> Inferred | None:
    stripped = text.lstrip()
    if stripped[:1] not in ("{", "["):
        return None
    records = []
    try:
        document = json.loads(text)
        records = document if isinstance(document, list) else [document]
    except json.JSONDecodeError:
        for line in _complete_lines(text, truncated):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                return None
    records = [r for r in records[:MAX_RECORDS] if isinstance(r, dict)]
    if not records:
        return None
    merged: dict[str, str | None] = {}
    for record in records:
        for key, value in record.items():
            merged[column_name(key)] = merge_types(merged.get(column_name(key)), json_type(value))
    columns = [(k, t or "string") for k, t in merged.items()]
    return Inferred(
        "json",
        columns,
        len(records),
        {},
        {
            "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
            "Parameters": {"paths": ",".join(sorted(k for k, _ in columns))},
        },
    )


# ------------------------------------------------------------------------ similarity
def similar(a: list[tuple[str, str]], b: list[tuple[str, str]]) -> bool:
    """Alike enough to be one table's files: most column names shared."""
    names_a, names_b = {n for n, _ in a}, {n for n, _ in b}
    union = names_a | names_b
    return not union or len(names_a & names_b) / len(union) >= SIMILARITY


def merge_columns(schemas: list[list[tuple[str, str]]]) -> list[tuple[str, str]]:
    merged: dict[str, str | None] = {}
    for columns in schemas:
        for name, kind in columns:
            merged[name] = merge_types(merged.get(name), kind)
    return [(n, t or "string") for n, t in merged.items()]


def table_name(folder: str, prefix: str = "") -> str:
    """A folder's table name as a crawler makes it: lower case, characters other than letters,
    digits and ``_`` as ``_``, the crawler's prefix first, at most 128 characters."""
    name = re.sub(r"[^a-z0-9_]", "_", folder.lower())
    return (prefix + name)[:128]


def partition_keys(folders: list[list[str]]) -> list[str] | None:
    """The keys of partition folders (one list of folder names per file, all as deep): Hive's
    ``key=value`` where every folder of a level names the same key, else ``partition_N``."""
    depths = {len(f) for f in folders}
    if len(depths) != 1:
        return None
    keys = []
    for level in range(depths.pop()):
        names = {f[level].split("=", 1)[0] for f in folders if "=" in f[level]}
        all_hive = all("=" in f[level] for f in folders)
        keys.append(
            column_name(names.pop()) if all_hive and len(names) == 1 else f"partition_{level}"
        )
    return keys


def partition_values(folders: list[str]) -> list[str]:
    return [f.split("=", 1)[1] if "=" in f else f for f in folders]
