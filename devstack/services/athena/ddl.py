"""The DDL Athena runs against the Data Catalog (Hive's syntax, as Athena's DDL reference writes
it), parsed into statements; anything else is a query for the engine. Pure: no I/O.

``CREATE {DATABASE|SCHEMA} [IF NOT EXISTS] db [COMMENT '…'] [LOCATION '…']
[WITH DBPROPERTIES (…)]``; ``DROP {DATABASE|SCHEMA} [IF EXISTS] db [CASCADE|RESTRICT]``;
``CREATE EXTERNAL TABLE [IF NOT EXISTS] [db.]t (col type [COMMENT '…'], …) [COMMENT '…']
[PARTITIONED BY (…)] [ROW FORMAT DELIMITED … | ROW FORMAT SERDE '…' [WITH SERDEPROPERTIES (…)]]
[STORED AS fmt | STORED AS INPUTFORMAT '…' OUTPUTFORMAT '…'] LOCATION '…' [TBLPROPERTIES (…)]``;
``DROP TABLE [IF EXISTS] [db.]t``; ``MSCK REPAIR TABLE [db.]t``; ``ALTER TABLE [db.]t ADD
[IF NOT EXISTS] PARTITION (k=v, …) [LOCATION '…'] …``; ``ALTER TABLE [db.]t DROP [IF EXISTS]
PARTITION (…), …``; ``SHOW {TABLES [IN db] ['pattern'] | DATABASES | SCHEMAS}``;
``DESCRIBE [db.]t``. Strings take single or double quotes, names backticks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LAZY_SIMPLE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
TEXT_IO = (
    "org.apache.hadoop.mapred.TextInputFormat",
    "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
)
STORED_AS = {
    "TEXTFILE": (*TEXT_IO, LAZY_SIMPLE),
    "PARQUET": (
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
    ),
    "ORC": (
        "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat",
        "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat",
        "org.apache.hadoop.hive.ql.io.orc.OrcSerde",
    ),
    "JSONFILE": (*TEXT_IO, "org.openx.data.jsonserde.JsonSerDe"),
}
DELIMITED = {
    ("FIELDS", "TERMINATED"): "field.delim",
    ("ESCAPED", "BY"): "escape.delim",
    ("COLLECTION", "ITEMS"): "collection.delim",
    ("MAP", "KEYS"): "mapkey.delim",
    ("LINES", "TERMINATED"): "line.delim",
}
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
    | (?P<quoted>`[^`]*`)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<number>\d+)
    | (?P<symbol>[(),.=<>:;])
    )""",
    re.VERBOSE,
)


class DdlError(ValueError):
    """A DDL statement Athena would refuse; the message names the problem."""


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


@dataclass
class CreateDatabase:
    name: str
    if_not_exists: bool
    comment: str = ""
    location: str = ""
    properties: dict = field(default_factory=dict)


@dataclass
class DropDatabase:
    name: str
    if_exists: bool
    cascade: bool


@dataclass
class CreateTable:
    database: str | None
    name: str
    if_not_exists: bool
    columns: list[tuple[str, str]]
    partition_keys: list[tuple[str, str]]
    location: str
    serde: str = LAZY_SIMPLE
    serde_parameters: dict = field(default_factory=dict)
    input_format: str = TEXT_IO[0]
    output_format: str = TEXT_IO[1]
    properties: dict = field(default_factory=dict)
    comment: str = ""


@dataclass
class DropTable:
    database: str | None
    name: str
    if_exists: bool


@dataclass
class RepairTable:
    database: str | None
    name: str


@dataclass
class AddPartitions:
    database: str | None
    name: str
    if_not_exists: bool
    partitions: list[tuple[dict[str, str], str]]  # (key -> value, location or "")


@dataclass
class DropPartitions:
    database: str | None
    name: str
    if_exists: bool
    partitions: list[dict[str, str]]


@dataclass
class ShowTables:
    database: str | None
    pattern: str


@dataclass
class ShowDatabases:
    pass


@dataclass
class Describe:
    database: str | None
    name: str


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "0": "\0"}


def unquote(text: str) -> str:
    """A string literal's value: Hive's escapes (``\\t``, ``\\n``, ``\\001``…), ``''`` for a quote."""
    if text[:1] not in "'\"" or text[-1:] != text[:1]:
        return text
    body = text[1:-1]
    if text[0] == "'":
        body = body.replace("''", "'")

    def escape(match: re.Match) -> str:
        code = match.group(1)
        if len(code) == 3:
            return chr(int(code, 8))
        return _ESCAPES.get(code, code)

    return re.sub(r"\\([0-7]{3}|.)", escape, body)


class _Parser:
    def __init__(self, sql: str):
        self.tokens, at = [], 0
        text = sql.strip().rstrip(";")
        while at < len(text):
            if not text[at:].strip():
                break
            match = _TOKEN.match(text, at)
            if not match:
                raise DdlError(f"line 1:{at + 1}: unexpected {text[at : at + 20]!r}")
            kind = match.lastgroup
            self.tokens.append(Token(kind, match.group(kind)))
            at = match.end()
        self.position = 0

    @property
    def next(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def word(self, *words: str) -> bool:
        """Takes the words if they come next (case-insensitive)."""
        ahead = self.tokens[self.position : self.position + len(words)]
        if len(ahead) == len(words) and all(
            t.kind == "word" and t.text.upper() == w for t, w in zip(ahead, words)
        ):
            self.position += len(words)
            return True
        return False

    def expect_word(self, *words: str) -> None:
        if not self.word(*words):
            found = self.next.text if self.next else "the end"
            raise DdlError(f"expected {' '.join(words)}, found {found!r}")

    def symbol(self, text: str) -> bool:
        if self.next and self.next.kind == "symbol" and self.next.text == text:
            self.position += 1
            return True
        return False

    def expect_symbol(self, text: str) -> None:
        if not self.symbol(text):
            found = self.next.text if self.next else "the end"
            raise DdlError(f"expected {text!r}, found {found!r}")

    def name(self) -> str:
        token = self.next
        if token is None or token.kind not in ("word", "quoted"):
            raise DdlError(f"expected a name, found {token.text if token else 'the end'!r}")
        self.position += 1
        return (token.text[1:-1] if token.kind == "quoted" else token.text).lower()

    def qualified(self) -> tuple[str | None, str]:
        first = self.name()
        if self.symbol("."):
            return first, self.name()
        return None, first

    def string(self) -> str:
        token = self.next
        if token is None or token.kind != "string":
            raise DdlError(
                f"expected a quoted string, found {token.text if token else 'the end'!r}"
            )
        self.position += 1
        return unquote(token.text)

    def value(self) -> str:
        token = self.next
        if token is None:
            raise DdlError("expected a value, found the end")
        self.position += 1
        return unquote(token.text) if token.kind == "string" else token.text

    def properties(self) -> dict[str, str]:
        self.expect_symbol("(")
        found = {}
        while True:
            key = self.string()
            self.expect_symbol("=")
            found[key] = self.string()
            if not self.symbol(","):
                break
        self.expect_symbol(")")
        return found

    def type_text(self) -> str:
        """A column type as written, nested types included (``array<struct<a:int>>``)."""
        parts, depth = [], 0
        while self.next is not None:
            token = self.next
            if token.kind == "symbol" and token.text in ",)" and depth == 0:
                break
            if token.kind == "word" and token.text.upper() == "COMMENT" and depth == 0:
                break
            if token.text in ("<", "("):
                depth += 1
            elif token.text in (">", ")"):
                depth -= 1
            parts.append(token.text[1:-1] if token.kind == "quoted" else token.text)
            self.position += 1
        if not parts:
            raise DdlError("a column needs a type")
        return "".join(parts).lower()

    def columns(self) -> list[tuple[str, str]]:
        self.expect_symbol("(")
        found = []
        while True:
            name = self.name()
            found.append((name, self.type_text()))
            if self.word("COMMENT"):
                self.string()
            if not self.symbol(","):
                break
        self.expect_symbol(")")
        return found

    def partition_spec(self) -> dict[str, str]:
        self.expect_symbol("(")
        spec = {}
        while True:
            key = self.name()
            self.expect_symbol("=")
            spec[key] = self.value()
            if not self.symbol(","):
                break
        self.expect_symbol(")")
        return spec

    def done(self):
        if self.next is not None:
            raise DdlError(f"unexpected {self.next.text!r} after the statement")


def parse(sql: str):
    """The DDL statement, or None when ``sql`` is a query (SELECT, WITH, VALUES…)."""
    head = sql.strip().split(None, 2)
    first = " ".join(head[:2]).upper() if head else ""
    if not re.match(r"^(CREATE|DROP|MSCK|ALTER|SHOW|DESCRIBE|DESC)\b", first):
        return None
    p = _Parser(sql)
    if p.word("CREATE"):
        if p.word("DATABASE") or p.word("SCHEMA"):
            return _create_database(p)
        if p.word("EXTERNAL", "TABLE"):
            return _create_table(p)
        if p.word("TABLE"):
            raise DdlError(
                "Only EXTERNAL tables are supported (CREATE EXTERNAL TABLE; CTAS is not "
                "supported locally)"
            )
        raise DdlError("CREATE of this kind is not supported")
    if p.word("DROP"):
        if p.word("DATABASE") or p.word("SCHEMA"):
            if_exists = p.word("IF", "EXISTS")
            name = p.name()
            cascade = p.word("CASCADE")
            p.word("RESTRICT")
            p.done()
            return DropDatabase(name, if_exists, cascade)
        p.expect_word("TABLE")
        if_exists = p.word("IF", "EXISTS")
        database, name = p.qualified()
        p.done()
        return DropTable(database, name, if_exists)
    if p.word("MSCK"):
        p.expect_word("REPAIR", "TABLE")
        database, name = p.qualified()
        p.done()
        return RepairTable(database, name)
    if p.word("ALTER"):
        p.expect_word("TABLE")
        database, name = p.qualified()
        if p.word("ADD"):
            if_not_exists = p.word("IF", "NOT", "EXISTS")
            partitions = []
            while p.word("PARTITION"):
                spec = p.partition_spec()
                partitions.append((spec, p.string() if p.word("LOCATION") else ""))
            if not partitions:
                raise DdlError("ALTER TABLE ADD needs a PARTITION (k=v, …)")
            p.done()
            return AddPartitions(database, name, if_not_exists, partitions)
        if p.word("DROP"):
            if_exists = p.word("IF", "EXISTS")
            specs = []
            while p.word("PARTITION"):
                specs.append(p.partition_spec())
                p.symbol(",")
            p.done()
            return DropPartitions(database, name, if_exists, specs)
        raise DdlError("ALTER TABLE supports ADD PARTITION and DROP PARTITION locally")
    if p.word("SHOW"):
        if p.word("DATABASES") or p.word("SCHEMAS"):
            return ShowDatabases()
        p.expect_word("TABLES")
        database = p.name() if (p.word("IN") or p.word("FROM")) else None
        pattern = p.string() if p.next is not None else "*"
        p.done()
        return ShowTables(database, pattern)
    p.word("DESCRIBE") or p.word("DESC")
    database, name = p.qualified()
    p.done()
    return Describe(database, name)


def _create_database(p: _Parser) -> CreateDatabase:
    statement = CreateDatabase("", p.word("IF", "NOT", "EXISTS"))
    statement.name = p.name()
    while p.next is not None:
        if p.word("COMMENT"):
            statement.comment = p.string()
        elif p.word("LOCATION"):
            statement.location = p.string()
        elif p.word("WITH", "DBPROPERTIES"):
            statement.properties = p.properties()
        else:
            raise DdlError(f"unexpected {p.next.text!r} in CREATE DATABASE")
    return statement


def _create_table(p: _Parser) -> CreateTable:
    if_not_exists = p.word("IF", "NOT", "EXISTS")
    database, name = p.qualified()
    table = CreateTable(database, name, if_not_exists, p.columns(), [], "")
    while p.next is not None:
        if p.word("COMMENT"):
            table.comment = p.string()
        elif p.word("PARTITIONED", "BY"):
            table.partition_keys = p.columns()
        elif p.word("ROW", "FORMAT", "SERDE"):
            table.serde = p.string()
            if p.word("WITH", "SERDEPROPERTIES"):
                table.serde_parameters.update(p.properties())
        elif p.word("ROW", "FORMAT", "DELIMITED"):
            table.serde = LAZY_SIMPLE
            while True:
                key = next((k for k in DELIMITED if p.word(*k)), None)
                if key is None:
                    break
                p.word("BY") or p.word("TERMINATED", "BY")
                table.serde_parameters[DELIMITED[key]] = p.string()
            if "field.delim" in table.serde_parameters:
                table.serde_parameters.setdefault(
                    "serialization.format", table.serde_parameters["field.delim"]
                )
        elif p.word("STORED", "AS", "INPUTFORMAT"):
            table.input_format = p.string()
            p.expect_word("OUTPUTFORMAT")
            table.output_format = p.string()
        elif p.word("STORED", "AS"):
            kind = p.name().upper()
            if kind not in STORED_AS:
                raise DdlError(
                    f"STORED AS {kind} is not supported locally ({', '.join(STORED_AS)})"
                )
            table.input_format, table.output_format, serde = STORED_AS[kind]
            if table.serde == LAZY_SIMPLE or kind != "TEXTFILE":
                table.serde = serde
        elif p.word("LOCATION"):
            table.location = p.string()
        elif p.word("TBLPROPERTIES"):
            table.properties.update(p.properties())
        else:
            raise DdlError(f"unexpected {p.next.text!r} in CREATE EXTERNAL TABLE")
    if not table.location:
        raise DdlError("CREATE EXTERNAL TABLE needs a LOCATION 's3://…'")
    return table


def normal_location(location: str) -> str:
    """``s3://bucket//a/b`` → ``s3://bucket/a/b/``, as Hadoop's paths collapse slashes."""
    scheme, _, rest = location.partition("://")
    bucket, _, path = rest.partition("/")
    path = "/".join(p for p in path.split("/") if p)
    return f"{scheme}://{bucket}/{path + '/' if path else ''}"


def table_input(table: CreateTable) -> dict:
    """The Glue TableInput Athena's CREATE EXTERNAL TABLE makes."""
    return {
        "Name": table.name,
        "Description": table.comment,
        "Owner": "hadoop",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"EXTERNAL": "TRUE", **table.properties},
        "PartitionKeys": [{"Name": n, "Type": t} for n, t in table.partition_keys],
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in table.columns],
            "Location": normal_location(table.location),
            "InputFormat": table.input_format,
            "OutputFormat": table.output_format,
            "Compressed": False,
            "NumberOfBuckets": -1,
            "SerdeInfo": {
                "SerializationLibrary": table.serde,
                "Parameters": dict(table.serde_parameters),
            },
            "BucketColumns": [],
            "SortColumns": [],
            "StoredAsSubDirectories": False,
        },
    }
