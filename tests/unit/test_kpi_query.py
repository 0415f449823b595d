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


DAY = "2024-06-02"


def marker(version, written, batch=None):
    item = {"pk": f"DATE#{DAY}", "sk": "SNAPSHOT", "kpi": "snapshot", "date": DAY}
    item.update(snapshot_version=Decimal(version), written_version=Decimal(written))
    if batch:
        item["written_batch"] = batch
    return item


def daily(genre, count, version):
    return {
        "pk": f"GENRE#{genre}#DATE#{DAY}",
        "sk": "METRIC#DAILY",
        "kpi": "genre_daily",
        "date": DAY,
        "genre": genre,
        "listen_count": Decimal(count),
        "snapshot_version": Decimal(version),
    }


STORED = {  # kpis/batch_id=b100/kpis.json: what snapshot 100 wrote
    "genre_daily": [
        {
            "listen_date": DAY,
            "genre": genre,
            "listen_count": count,
            "unique_listeners": 1,
            "total_listening_time_ms": 1,
            "avg_listening_time_per_user_ms": 1.0,
        }
        for genre, count in (("pop", 5), ("rock", 2))
    ]
}


def test_a_day_caught_mid_write_is_read_again_until_settled():
    half = [marker(200, 100, "b100"), daily("pop", 9, 200), daily("rock", 2, 100)]
    whole = [marker(200, 200, "b200"), daily("pop", 9, 200), daily("jazz", 1, 200)]
    table = FakeTable([{"Items": half}, {"Items": whole}])
    items = kpi_query.settled_fetch(table, None, None, lambda b: {}, pause=0)
    assert items == whole and len(table.calls) == 2


def test_a_day_still_being_written_is_shown_as_its_last_written_snapshot():
    half = [marker(200, 100, "b100"), daily("pop", 9, 200), daily("rock", 2, 100)]
    table = FakeTable([{"Items": list(half)} for _ in range(3)])
    asked = []
    items = kpi_query.settled_fetch(
        table, None, None, lambda b: asked.append(b) or STORED, attempts=3, pause=0
    )
    assert asked == ["b100"]
    assert {(i["genre"], int(i["listen_count"])) for i in items} == {("pop", 5), ("rock", 2)}


def test_a_first_write_in_progress_is_left_out():
    table = FakeTable([{"Items": [marker(100, 0), daily("pop", 9, 100)]}])
    assert kpi_query.settled_fetch(table, None, None, lambda b: {}, attempts=1) == []


def test_days_written_before_markers_recorded_writes_are_read_as_they_are():
    legacy = {k: v for k, v in marker(100, 0).items() if k != "written_version"}
    items = [legacy, daily("pop", 9, 100)]
    table = FakeTable([{"Items": items}])
    assert kpi_query.settled_fetch(table, None, None, lambda b: {}) == items
