"""The KPI query command's rendering and DynamoDB requests (fake table)."""

from decimal import Decimal

from devstack.tools import kpi_query


class FakeTable:
    def __init__(self, pages):
        self.pages, self.calls = list(pages), []

    def query(self, **kwargs):
        self.calls.append(("query", kwargs))
        return self.pages.pop(0)

    def scan(self, **kwargs):
        self.calls.append(("scan", kwargs))
        return self.pages.pop(0)


ITEMS = [
    {
        "pk": "GENRE#pop#DATE#2024-06-01",
        "sk": "METRIC#DAILY",
        "kpi": "genre_daily",
        "date": "2024-06-01",
        "genre": "pop",
        "listen_count": Decimal(5),
        "unique_listeners": Decimal(3),
        "total_listening_time_ms": Decimal(900),
        "avg_listening_time_per_user_ms": Decimal("300.000"),
    },
    {
        "pk": "DATE#2024-06-01",
        "sk": "GENRE_RANK#1",
        "kpi": "top_genre",
        "date": "2024-06-01",
        "rank": Decimal(1),
        "genre": "pop",
        "listen_count": Decimal(5),
    },
]


def test_date_query_uses_the_date_index_and_follows_pages():
    table = FakeTable([{"Items": ITEMS[:1], "LastEvaluatedKey": {"pk": "x"}}, {"Items": ITEMS[1:]}])
    assert kpi_query.fetch(table, "2024-06-01", None) == ITEMS
    assert [c[0] for c in table.calls] == ["query", "query"]
    assert table.calls[0][1]["IndexName"] == "date-index"
    assert table.calls[1][1]["ExclusiveStartKey"] == {"pk": "x"}


def test_date_and_genre_query_the_genre_partition():
    table = FakeTable([{"Items": ITEMS[:1]}])
    kpi_query.fetch(table, "2024-06-01", "pop")
    [(kind, kwargs)] = table.calls
    assert kind == "query" and "IndexName" not in kwargs


def test_render_tables():
    text = kpi_query.render(ITEMS)
    assert "Genre KPIs per day (1-4)" in text and "Top 5 genres per day (6)" in text
    assert "2024-06-01  pop    5        3          900       300" in text
    assert kpi_query.render([]) == "no KPIs found"
