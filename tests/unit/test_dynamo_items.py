"""Deterministic DynamoDB keys and item shapes."""

import datetime as dt
from decimal import Decimal

from music_streaming import dynamo_items, kpi_snapshot


def test_keys_are_deterministic_and_readable():
    row = {
        "listen_date": dt.date(2024, 6, 1),
        "genre": "r&b",
        "listen_count": 5,
        "unique_listeners": 3,
        "total_listening_time_ms": 900,
        "avg_listening_time_per_user_ms": 300.0,
    }
    item = dynamo_items.genre_daily_item(row)
    assert (item["pk"], item["sk"]) == ("GENRE#r&b#DATE#2024-06-01", "METRIC#DAILY")
    assert item == dynamo_items.genre_daily_item(dict(row))  # same row, same item, every run
    assert item["avg_listening_time_per_user_ms"] == Decimal("300.000")


def test_top_song_and_genre_keys():
    song = dynamo_items.top_song_item(
        {
            "listen_date": "2024-06-01",
            "genre": "pop",
            "rank": 2,
            "track_id": "t1",
            "track_name": None,
            "artists": "A;B",
            "play_count": 7,
        }
    )
    assert (song["pk"], song["sk"]) == ("GENRE#pop#DATE#2024-06-01", "SONG#2")
    assert "track_name" not in song  # DynamoDB items carry no nulls
    genre = dynamo_items.top_genre_item(
        {"listen_date": "2024-06-01", "rank": 1, "genre": "pop", "listen_count": 9}
    )
    assert (genre["pk"], genre["sk"], genre["date"]) == (
        "DATE#2024-06-01",
        "GENRE_RANK#1",
        "2024-06-01",
    )


def test_float_rounding_is_stable():
    assert dynamo_items._number(1 / 3) == Decimal("0.333")
    assert dynamo_items._number(2.0005) == Decimal("2.000")  # binary 2.0005 is below the half
    assert dynamo_items._number(7) == 7


def test_kpi_items_covers_every_output():
    items = dynamo_items.kpi_items(
        {
            "genre_daily": [],
            "top_songs": [],
            "top_genres": [],
            "stream_quality": [
                {
                    "listen_date": "2024-06-01",
                    "streams": 3,
                    "unknown_track_streams": 1,
                    "unknown_user_streams": 0,
                }
            ],
        }
    )
    assert [(i["pk"], i["sk"]) for i in items] == [("DATE#2024-06-01", "QUALITY")]


def test_ledger_transitions_form_one_path():
    from music_streaming import ledger as file_ledger

    assert file_ledger.can_move("RECEIVED", "CLAIMED")
    assert file_ledger.can_move("CLAIMED", "QUARANTINED")
    assert not file_ledger.can_move("RECEIVED", "VALIDATED")
    assert not any(
        file_ledger.can_move(s, t) for s in file_ledger.TERMINAL for t in file_ledger.STATES
    )
    assert file_ledger.reached("ARCHIVED", "PROCESSED")
    assert not file_ledger.reached("PROCESSED", "KPIS_WRITTEN")
    assert not file_ledger.reached("QUARANTINED", "VALIDATED")


def test_stale_items_are_only_those_an_older_snapshot_wrote():

    existing = [
        {"pk": "A", "sk": "1", "snapshot_version": 5},
        {"pk": "B", "sk": "1", "snapshot_version": 9},
        {"pk": "C", "sk": "1"},
        {"pk": "DATE#d", "sk": "SNAPSHOT", "snapshot_version": 5},
    ]
    assert kpi_snapshot.stale_keys(existing, [("A", "1")], 7) == [("C", "1")]


def test_each_day_is_rebuilt_from_the_newest_snapshot_that_covers_it():
    old = {"batch_id": "b1", "snapshot_version": 10, "touched_days": ["d1", "d2"]}
    new = {"batch_id": "b2", "snapshot_version": 20, "touched_days": ["d2", "d3"]}
    tie = {"batch_id": "b3", "snapshot_version": 20, "touched_days": ["d3"]}
    newest = kpi_snapshot.newest_per_day([new, tie, old])
    assert newest == {"d1": old, "d2": new, "d3": tie}  # equal versions: the later batch id
    assert kpi_snapshot.newest_per_day([tie, new, old]) == newest  # whatever the listing order
    assert kpi_snapshot.newest_per_day([]) == {}
