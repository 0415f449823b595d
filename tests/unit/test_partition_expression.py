"""GetPartitions' Expression: the documentation's examples, errors that name the problem, and
random expressions checked against DuckDB's SQL as the oracle."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.services.glue.partition_expression import ExpressionError, compile_expression

YEARS = [["2015"], ["2016"], ["2017"], ["2018"]]
YEAR_KEY = [{"Name": "year", "Type": "string"}]


def selected(expression: str, partitions=YEARS, keys=YEAR_KEY) -> list[list[str]]:
    test = compile_expression(expression, keys)
    return [p for p in partitions if test(p)]


@pytest.mark.parametrize(
    "expression, years",
    [
        ("year='2015'", ["2015"]),
        ("year>'2016' AND year<'2018'", ["2017"]),
        ("year>='2015' AND year<='2018'", ["2015", "2016", "2017", "2018"]),
        ("year BETWEEN 2015 AND 2018", ["2015", "2016", "2017", "2018"]),
        ("year IN (2015,2016,2017,2018)", ["2015", "2016", "2017", "2018"]),
        ("year LIKE '%7'", ["2017"]),
        ("", ["2015", "2016", "2017", "2018"]),
        ("   ", ["2015", "2016", "2017", "2018"]),
        ("NOT (year = '2015' OR year <> '2016')", ["2016"]),
        ("year NOT IN ('2015', '2016')", ["2017", "2018"]),
        ("year NOT BETWEEN '2016' AND '2017'", ["2015", "2018"]),
        ("'2017' <= year", ["2017", "2018"]),
        ("year IS NOT NULL AND year != '2018'", ["2015", "2016", "2017"]),
    ],
)
def test_the_documentations_examples(expression, years):
    assert selected(expression) == [[y] for y in years]


def test_keys_compare_by_their_type():
    keys = [
        {"Name": "day", "Type": "date"},
        {"Name": "hour", "Type": "int"},
        {"Name": "price", "Type": "decimal(10,2)"},
    ]
    parts = [["2024-01-02", "9", "1.50"], ["2024-01-10", "10", "12.00"]]
    assert selected("hour > 9", parts, keys) == [parts[1]]  # 10 > 9 as numbers, not as text
    assert selected("day < '2024-01-03'", parts, keys) == [parts[0]]
    assert selected("price >= 2 AND hour IN (9, 10)", parts, keys) == [parts[1]]


@pytest.mark.parametrize(
    "expression, message",
    [
        ("month = '1'", "Unknown column 'month'"),
        ("hour LIKE '1%'", "Integral data type doesn't support operation 'LIKE'"),
        ("hour = 'nine'", '"nine" is not an integer'),
        ("ratio = 1", "Unknown type : 'double'"),
        ("year = ", "expected a literal"),
        ("year = '2015' AND", "expected a literal"),
        ("(year = '2015'", "expected )"),
        ("year ~ '2015'", "Invalid partition expression at character 6"),
        ("'a' = 'b'", "one partition key and one literal"),
    ],
)
def test_a_bad_expression_names_the_problem(expression, message):
    keys = [
        {"Name": "year", "Type": "string"},
        {"Name": "hour", "Type": "bigint"},
        {"Name": "ratio", "Type": "double"},
    ]
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_expression(expression, keys)


# ------------------------------------------------------------------ DuckDB as the oracle
KEYS = [{"Name": "genre", "Type": "string"}, {"Name": "n", "Type": "int"}]
TEXT = st.text(alphabet="abc%_'", max_size=3)
NUMBER = st.integers(-3, 12)
OPERATORS = st.sampled_from(["=", "<>", "<", ">", "<=", ">="])


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


ATOMS = st.one_of(
    st.builds(lambda op, t: f"genre {op} {quoted(t)}", OPERATORS, TEXT),
    st.builds(lambda op, v: f"n {op} {v}", OPERATORS, NUMBER),
    st.builds(lambda t: f"genre LIKE {quoted(t)}", TEXT),
    st.builds(lambda vs: f"n IN ({', '.join(map(str, vs))})", st.lists(NUMBER, min_size=1)),
    st.builds(lambda a, b: f"n BETWEEN {a} AND {b}", NUMBER, NUMBER),
    st.builds(lambda a, b: f"genre NOT BETWEEN {quoted(a)} AND {quoted(b)}", TEXT, TEXT),
)
EXPRESSIONS = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a}) AND ({b})", inner, inner),
        st.builds(lambda a, b: f"{a} OR {b}", inner, inner),
        st.builds(lambda a: f"NOT ({a})", inner),
    ),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    expression=EXPRESSIONS,
    partitions=st.lists(st.tuples(st.text(alphabet="abc%_'", max_size=3), NUMBER), max_size=8),
)
def test_random_expressions_select_what_sql_selects(expression, partitions):
    db = duckdb.connect()
    db.execute("CREATE TABLE p (i INTEGER, genre VARCHAR, n INTEGER)")
    if partitions:
        db.executemany(
            "INSERT INTO p VALUES (?, ?, ?)", [(i, *p) for i, p in enumerate(partitions)]
        )
    expected = sorted(r[0] for r in db.execute(f"SELECT i FROM p WHERE {expression}").fetchall())
    test = compile_expression(expression, KEYS)
    assert [i for i, (g, n) in enumerate(partitions) if test([g, str(n)])] == expected
