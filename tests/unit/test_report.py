"""The KPI report's page: what it shows from KPI and ledger items, escaped names, embedded data
that cannot end its script element."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from devstack.tools import report
from music_streaming import dynamo_items


def items():
    rows = {
        "genre_daily": [
            {
                "listen_date": d,
                "genre": g,
                "listen_count": n,
                "unique_listeners": 2,
                "total_listening_time_ms": 7_200_000,
                "avg_listening_time_per_user_ms": 3_600_000.0,
            }
            for d, g, n in [
                ("2030-01-01", "rock", 5),
                ("2030-01-01", '<b>"pop"</b>', 9),
                ("2030-01-02", "rock", 6),
            ]
        ],
        "top_songs": [
            {
                "listen_date": "2030-01-02",
                "genre": "rock",
                "rank": 1,
                "track_id": "t1",
                "play_count": 6,
                "track_name": "Song </script> 1",
                "artists": "A;B",
            }
        ],
        "top_genres": [
            {"listen_date": "2030-01-01", "rank": 1, "genre": '<b>"pop"</b>', "listen_count": 9},
            {"listen_date": "2030-01-01", "rank": 2, "genre": "rock", "listen_count": 5},
        ],
        "stream_quality": [
            {
                "listen_date": "2030-01-01",
                "streams": 15,
                "unknown_track_streams": 1,
                "unknown_user_streams": 0,
            }
        ],
    }
    return dynamo_items.kpi_items(rows)


LEDGER = [
    {"bucket": "raw", "key": "streams/a.csv", "state": "ARCHIVED", "updated_at": "t2"},
    {
        "bucket": "raw",
        "key": "streams/b.csv",
        "state": "QUARANTINED",
        "updated_at": "t1",
        "reason": "missing column track_id",
    },
]


def test_page_data_orders_days_trends_and_file_states():
    data = report.page_data(items(), LEDGER)
    assert data["days"] == ["2030-01-01", "2030-01-02"]
    assert data["trends"]["genres"] == ["rock", '<b>"pop"</b>']  # most plays overall first
    assert data["trends"]["series"]["rock"] == [5, 6]
    assert data["trends"]["series"]['<b>"pop"</b>'] == [9, 0]
    assert [g["genre"] for g in data["top_genres"]["2030-01-01"]] == ['<b>"pop"</b>', "rock"]
    assert data["file_states"]["ARCHIVED"] == 1 and data["file_states"]["RECEIVED"] == 0


def test_the_page_escapes_names_and_keeps_its_data_inside_the_script():
    page = report.render(
        report.page_data(items(), LEDGER), "2030-01-02", "here", datetime.now(timezone.utc)
    )
    data_script = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S
    )
    embedded = data_script.group(1)
    markup = page.replace(data_script.group(0), "")
    assert "<b>" not in markup  # names are text, never markup
    assert "&lt;b&gt;&quot;pop&quot;&lt;/b&gt;" in markup
    assert json.loads(embedded)["days"] == ["2030-01-01", "2030-01-02"]
    assert "Song &lt;/script&gt; 1" in page  # the top song of the chosen day
    assert 'data-kpi="listen_count" data-genre="rock">6</td>' in markup  # 2030-01-02's plays
    assert "missing column track_id" in page
