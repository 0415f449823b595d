"""GetPartitions' ``Expression``: the SQL WHERE-like filter Glue documents over a table's partition
keys (``=``, ``<>``, ``!=``, ``<``, ``>``, ``<=``, ``>=``, ``AND``, ``OR``, ``NOT``, ``IN``,
``BETWEEN``, ``LIKE``, ``IS [NOT] NULL``, parentheses; string literals in single quotes with ``''``
for a quote, number literals).

Values compare by the key's declared type (Glue's supported partition key types: string, date,
timestamp, int, bigint, long, tinyint, smallint, decimal; any other type is refused). A number
literal against a string key compares numerically where the value is a number (the documentation's
``year BETWEEN 2015 AND 2018`` on a string key), else as text. ``LIKE`` takes ``%`` and ``_`` only
(no regular expressions) and only on string keys. A blank expression selects every partition.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Callable

INTEGRAL = {"int", "integer", "bigint", "long", "tinyint", "smallint"}
SUPPORTED_TYPES = INTEGRAL | {"string", "date", "timestamp", "decimal"}
KEYWORDS = {"AND", "OR", "NOT", "IN", "BETWEEN", "LIKE", "IS", "NULL"}
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<name>`[^`]+`|"[^"]+"|[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op><>|!=|<=|>=|=|<|>|\(|\)|,)
    )""",
    re.VERBOSE,
)

Partition = list[str]  # a partition's values, in the table's key order
Predicate = Callable[[Partition], bool]


class ExpressionError(ValueError):
    """The expression cannot be parsed or does not fit the table's keys (InvalidInputException)."""


@dataclass(frozen=True)
class Token:
    kind: str  # string | number | name | keyword | op | end
    text: str
    at: int


def tokens(expression: str) -> list[Token]:
    out, position = [], 0
    while position < len(expression):
        if expression[position:].strip() == "":
            break
        match = _TOKEN.match(expression, position)
        if not match:
            at = len(expression) - len(expression[position:].lstrip())
            raise ExpressionError(
                f"Invalid partition expression at character {at + 1}: {expression[at : at + 20]!r}"
            )
        kind = match.lastgroup
        text, at = match.group(kind), match.start(kind)
        if kind == "name" and text.upper() in KEYWORDS:
            kind, text = "keyword", text.upper()
        elif kind == "name" and text[0] in '`"':
            text = text[1:-1]
        out.append(Token(kind, text, at))
        position = match.end()
    out.append(Token("end", "", len(expression)))
    return out


@dataclass(frozen=True)
class Key:
    index: int
    name: str
    type: str


class _Parser:
    def __init__(self, expression: str, keys: dict[str, Key]):
        self.tokens = tokens(expression)
        self.position = 0
        self.keys = keys

    # ------------------------------------------------------------------------- tokens
    @property
    def next(self) -> Token:
        return self.tokens[self.position]

    def take(self, kind: str, text: str | None = None) -> Token | None:
        token = self.next
        if token.kind == kind and (text is None or token.text == text):
            self.position += 1
            return token
        return None

    def expect(self, kind: str, text: str | None = None) -> Token:
        token = self.take(kind, text)
        if token is None:
            wanted = text or kind
            found = self.next.text or "the end"
            raise ExpressionError(
                f"Invalid partition expression: expected {wanted} at character "
                f"{self.next.at + 1}, found {found!r}"
            )
        return token

    # ------------------------------------------------------------------------ grammar
    def parse(self) -> Predicate:
        predicate = self.disjunction()
        self.expect("end")
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.take("keyword", "OR"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda p, parts=parts: any(f(p) for f in parts))

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.take("keyword", "AND"):
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else (lambda p, parts=parts: all(f(p) for f in parts))

    def negation(self) -> Predicate:
        if self.take("keyword", "NOT"):
            inner = self.negation()
            return lambda p: not inner(p)
        if self.take("op", "("):
            inner = self.disjunction()
            self.expect("op", ")")
            return inner
        return self.condition()

    def condition(self) -> Predicate:
        left = self.operand()
        negated = bool(self.take("keyword", "NOT"))
        if self.take("keyword", "IN"):
            key = self.key_of(left, "IN")
            self.expect("op", "(")
            values = [self.literal()]
            while self.take("op", ","):
                values.append(self.literal())
            self.expect("op", ")")
            tests = [comparison(key, "=", v) for v in values]
            return self.maybe_not(negated, lambda p: any(t(p) for t in tests))
        if self.take("keyword", "BETWEEN"):
            key = self.key_of(left, "BETWEEN")
            low, high = self.literal(), None
            self.expect("keyword", "AND")
            high = self.literal()
            above, below = comparison(key, ">=", low), comparison(key, "<=", high)
            return self.maybe_not(negated, lambda p: above(p) and below(p))
        if self.take("keyword", "LIKE"):
            key = self.key_of(left, "LIKE")
            pattern = self.literal()
            return self.maybe_not(negated, like(key, pattern))
        if negated:
            raise ExpressionError(
                "Invalid partition expression: NOT must precede IN, BETWEEN or LIKE"
            )
        if self.take("keyword", "IS"):
            key = self.key_of(left, "IS NULL")
            is_not = bool(self.take("keyword", "NOT"))
            self.expect("keyword", "NULL")
            return lambda p: (p[key.index] is not None) == is_not
        operator = self.expect("op").text
        if operator not in ("=", "<>", "!=", "<", ">", "<=", ">="):
            raise ExpressionError(f"Invalid partition expression: unexpected {operator!r}")
        right = self.operand()
        if isinstance(left, Key) and not isinstance(right, Key):
            return comparison(left, operator, right)
        if isinstance(right, Key) and not isinstance(left, Key):
            return comparison(right, MIRRORED[operator], left)
        raise ExpressionError(
            "Invalid partition expression: a comparison needs one partition key and one literal"
        )

    @staticmethod
    def maybe_not(negated: bool, predicate: Predicate) -> Predicate:
        return (lambda p: not predicate(p)) if negated else predicate

    def key_of(self, operand, operation: str) -> Key:
        if not isinstance(operand, Key):
            raise ExpressionError(
                f"Invalid partition expression: {operation} needs a partition key"
            )
        return operand

    def operand(self) -> Key | Token:
        name = self.take("name")
        if name is None:
            return self.literal()
        key = self.keys.get(name.text.lower())
        if key is None:
            raise ExpressionError(f"Unknown column '{name.text}'")
        if key.type not in SUPPORTED_TYPES:
            raise ExpressionError(f"Unknown type : '{key.type}'")
        return key

    def literal(self) -> Token:
        token = self.take("string") or self.take("number")
        if token is None:
            raise ExpressionError(
                f"Invalid partition expression: expected a literal at character "
                f"{self.next.at + 1}, found {self.next.text or 'the end'!r}"
            )
        if token.kind == "string":
            return Token("string", token.text[1:-1].replace("''", "'"), token.at)
        return token


MIRRORED = {"=": "=", "<>": "<>", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
_COMPARE = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        return None
    return value if value.is_finite() else None


def _typed(key: Key, text: str, literal: bool):
    """A value of the key's type; a literal that does not fit is an error, a stored value that
    does not fit never matches (None)."""
    problem = None
    if key.type in INTEGRAL:
        number = _number(text)
        if number is None or number != number.to_integral_value():
            problem = f'"{text}" is not an integer'
        else:
            return int(number)
    elif key.type == "decimal":
        number = _number(text)
        if number is None:
            problem = f"{text} is not a decimal"
        else:
            return number
    elif key.type == "date":
        try:
            return dt.date.fromisoformat(text.strip())
        except ValueError:
            problem = f"{text} is not a date (yyyy-mm-dd)"
    elif key.type == "timestamp":
        try:
            return dt.datetime.fromisoformat(text.strip())
        except ValueError:
            problem = f"{text} is not a timestamp (yyyy-mm-dd hh:mm:ss)"
    if literal:
        raise ExpressionError(f"{problem} (partition key {key.name}, type {key.type})")
    return None


def comparison(key: Key, operator: str, literal: Token) -> Predicate:
    test = _COMPARE[operator]
    if key.type == "string":
        if literal.kind == "number":
            wanted_number = _number(literal.text)

            def compare(p: Partition) -> bool:
                value = p[key.index]
                number = _number(value) if value is not None else None
                if number is not None:
                    return test(number, wanted_number)
                return value is not None and test(value, literal.text)

            return compare
        return lambda p: p[key.index] is not None and test(p[key.index], literal.text)
    wanted = _typed(key, literal.text, literal=True)

    def typed_compare(p: Partition) -> bool:
        value = _typed(key, p[key.index], literal=False) if p[key.index] is not None else None
        return value is not None and test(value, wanted)

    return typed_compare


def like(key: Key, pattern: Token) -> Predicate:
    if key.type != "string":
        kind = "Integral" if key.type in INTEGRAL else key.type.capitalize()
        raise ExpressionError(f"{kind} data type doesn't support operation 'LIKE'")
    regex = re.compile(
        "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern.text),
        re.DOTALL,
    )
    return lambda p: p[key.index] is not None and regex.fullmatch(p[key.index]) is not None


def compile_expression(expression: str | None, partition_keys: list[dict]) -> Predicate:
    """A test of a partition's values; ``partition_keys`` as the table has them
    (``[{"Name": ..., "Type": ...}]``). Raises ``ExpressionError`` with the reason."""
    if not expression or not expression.strip():
        return lambda p: True
    if len(expression) > 2048:
        raise ExpressionError("Expression is longer than 2048 characters")
    keys = {}
    for index, key in enumerate(partition_keys):
        key_type = (key.get("Type") or "string").lower().split("(")[0].strip()  # decimal(10,2)
        keys[key["Name"].lower()] = Key(index, key["Name"], key_type)
    return _Parser(expression, keys).parse()
