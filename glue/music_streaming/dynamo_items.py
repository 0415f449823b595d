"""KPI rows -> DynamoDB items with deterministic keys (a rerun overwrites, never duplicates).

    GENRE#{genre}#DATE#{date} / METRIC#DAILY       KPIs 1-4 of a genre on a day
    GENRE#{genre}#DATE#{date} / SONG#{rank}        KPI 5, top songs of a genre on a day
    DATE#{date}               / GENRE_RANK#{rank}  KPI 6, top genres of a day
    DATE#{date}               / QUALITY            streams with unknown track or user
Every item carries ``date`` (index ``date-index``) and ``kpi``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Iterable, Mapping

GENRE_DAILY, TOP_SONG, TOP_GENRE, QUALITY = "genre_daily", "top_song", "top_genre", "quality"


def _day(value) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _number(value):
    if value is None:
        return None
    if isinstance(value, float):
        return Decimal(repr(value)).quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN)
    return int(value)


def genre_pk(genre: str, day) -> str:
    return f"GENRE#{genre}#DATE#{_day(day)}"


def date_pk(day) -> str:
    return f"DATE#{_day(day)}"


def genre_daily_item(row: Mapping) -> dict:
    day = _day(row["listen_date"])
    return {
        "pk": genre_pk(row["genre"], day),
        "sk": "METRIC#DAILY",
        "kpi": GENRE_DAILY,
        "date": day,
        "genre": row["genre"],
        "listen_count": _number(row["listen_count"]),
        "unique_listeners": _number(row["unique_listeners"]),
        "total_listening_time_ms": _number(row["total_listening_time_ms"]),
        "avg_listening_time_per_user_ms": _number(float(row["avg_listening_time_per_user_ms"])),
    }


def top_song_item(row: Mapping) -> dict:
    day = _day(row["listen_date"])
    item = {
        "pk": genre_pk(row["genre"], day),
        "sk": f"SONG#{row['rank']}",
        "kpi": TOP_SONG,
        "date": day,
        "genre": row["genre"],
        "rank": _number(row["rank"]),
        "track_id": row["track_id"],
        "play_count": _number(row["play_count"]),
        "track_name": row.get("track_name"),
        "artists": row.get("artists"),
    }
    return {k: v for k, v in item.items() if v is not None}


def top_genre_item(row: Mapping) -> dict:
    day = _day(row["listen_date"])
    return {
        "pk": date_pk(day),
        "sk": f"GENRE_RANK#{row['rank']}",
        "kpi": TOP_GENRE,
        "date": day,
        "rank": _number(row["rank"]),
        "genre": row["genre"],
        "listen_count": _number(row["listen_count"]),
    }


def quality_item(row: Mapping) -> dict:
    day = _day(row["listen_date"])
    return {
        "pk": date_pk(day),
        "sk": "QUALITY",
        "kpi": QUALITY,
        "date": day,
        "streams": _number(row["streams"]),
        "unknown_track_streams": _number(row["unknown_track_streams"]),
        "unknown_user_streams": _number(row["unknown_user_streams"]),
    }


# The KPI outputs by the names ``kpis.collect_daily_kpis`` (and the DuckDB reference) give them,
# each with the builder of its items.
ITEM_BUILDERS = {
    GENRE_DAILY: genre_daily_item,
    "top_songs": top_song_item,
    "top_genres": top_genre_item,
    "stream_quality": quality_item,
}
KPI_RESULTS = tuple(ITEM_BUILDERS)


def kpi_items(kpi_rows: Mapping[str, Iterable[Mapping]]) -> list[dict]:
    """All items for the KPI outputs by name (genre_daily, top_songs, ...)."""
    items = []
    for name, rows in kpi_rows.items():
        items.extend(ITEM_BUILDERS[name](row) for row in rows)
    return items


def snapshot_items(snapshot: Mapping) -> list[dict]:
    """The KPI items of a stored snapshot (a ``kpis.json`` document)."""
    return kpi_items({name: snapshot.get(name, []) for name in KPI_RESULTS})


def item_key(item: Mapping) -> tuple[str, str]:
    return item["pk"], item["sk"]
