"""The six KPIs computed independently with DuckDB straight from the CSV files: the reference the
tests check the Spark job against, and the baseline of the KPI benchmark."""

from __future__ import annotations

from pathlib import Path

import duckdb

from music_streaming import dynamo_items, kpi_snapshot


def _csv(paths: list[Path]) -> str:
    files = ", ".join(f"'{p}'" for p in paths)
    return f"read_csv([{files}], header=true, all_varchar=true, quote='\"', escape='\"')"


def compute(streams: list[Path], songs: list[Path], users: list[Path]) -> dict[str, list[dict]]:
    con = duckdb.connect()
    con.execute(f"""
        CREATE TABLE songs AS
        SELECT trim(track_id) AS track_id,
               first(trim(track_genre) ORDER BY trim(track_genre), track_name, artists) AS genre,
               first(track_name ORDER BY trim(track_genre), track_name, artists) AS track_name,
               first(artists ORDER BY trim(track_genre), track_name, artists) AS artists,
               first(CAST(duration_ms AS BIGINT) ORDER BY trim(track_genre), track_name, artists)
                   AS duration_ms
        FROM {_csv(songs)} WHERE coalesce(trim(track_id), '') <> '' GROUP BY 1;
        CREATE TABLE plays AS
        SELECT DISTINCT trim(user_id) AS user_id, trim(track_id) AS track_id,
               strptime(trim(listen_time), '%Y-%m-%d %H:%M:%S') AS listen_time
        FROM {_csv(streams)}
        WHERE coalesce(trim(user_id), '') <> '' AND coalesce(trim(track_id), '') <> ''
          AND try_strptime(trim(listen_time), '%Y-%m-%d %H:%M:%S') IS NOT NULL;
        CREATE TABLE known AS
        SELECT p.*, CAST(p.listen_time AS DATE) AS listen_date, s.genre, s.duration_ms
        FROM plays p JOIN songs s USING (track_id);
    """)

    def rows(sql: str) -> list[dict]:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r)) for r in cursor.fetchall()]

    genre_daily = rows("""
        SELECT listen_date, genre, count(*) AS listen_count,
               count(DISTINCT user_id) AS unique_listeners,
               coalesce(sum(duration_ms), 0) AS total_listening_time_ms,
               coalesce(sum(duration_ms), 0) / count(DISTINCT user_id)
                   AS avg_listening_time_per_user_ms
        FROM known GROUP BY ALL""")
    top_songs = rows("""
        SELECT * FROM (
            SELECT listen_date, genre, track_id, count(*) AS play_count,
                   row_number() OVER (PARTITION BY listen_date, genre
                                      ORDER BY count(*) DESC, track_id) AS rank
            FROM known GROUP BY listen_date, genre, track_id)
        JOIN songs USING (track_id, genre) WHERE rank <= 3""")
    top_genres = rows("""
        SELECT * FROM (
            SELECT listen_date, genre, count(*) AS listen_count,
                   row_number() OVER (PARTITION BY listen_date
                                      ORDER BY count(*) DESC, genre) AS rank
            FROM known GROUP BY listen_date, genre) WHERE rank <= 5""")
    return {"genre_daily": genre_daily, "top_songs": top_songs, "top_genres": top_genres}


def expected_items(streams, songs, users) -> dict[tuple[str, str], dict]:
    """The KPI items (without the data-quality ones) keyed by (pk, sk)."""
    items = dynamo_items.kpi_items(compute(streams, songs, users))
    return {dynamo_items.item_key(i): i for i in items}


def kpi_items_only(items) -> dict[tuple[str, str], dict]:
    """KPI items as computed, without data-quality items, snapshot markers and versions."""
    return {
        dynamo_items.item_key(i): {k: v for k, v in i.items() if k != kpi_snapshot.VERSION}
        for i in items
        if i["kpi"] not in (dynamo_items.QUALITY, kpi_snapshot.SNAPSHOT_KIND)
    }
