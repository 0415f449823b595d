"""The three input datasets: where they land, which columns they must have, how fields are typed.

Standard library only (shared by the Python shell validation job and the Spark ETL job).
"""
from __future__ import annotations

from typing import Optional

STREAMS, SONGS, USERS = "streams", "songs", "users"
DATASETS = (STREAMS, SONGS, USERS)

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    STREAMS: ("user_id", "track_id", "listen_time"),
    SONGS: ("track_id", "track_genre", "track_name", "artists"),
    USERS: ("user_id", "user_name", "user_age", "user_country"),
}

# Columns that identify a row: they must be non-empty.
ID_COLUMNS: dict[str, tuple[str, ...]] = {
    STREAMS: ("user_id", "track_id"),
    SONGS: ("track_id",),
    USERS: ("user_id",),
}

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
TIMESTAMP_COLUMNS: dict[str, tuple[str, ...]] = {STREAMS: ("listen_time",)}

# Numeric columns checked when present (songs follow the Spotify tracks layout).
INTEGER_COLUMNS: dict[str, tuple[str, ...]] = {
    SONGS: ("popularity", "duration_ms", "key", "mode", "time_signature"),
    USERS: ("user_age",),
}
FLOAT_COLUMNS: dict[str, tuple[str, ...]] = {
    SONGS: ("danceability", "energy", "loudness", "speechiness", "acousticness",
            "instrumentalness", "liveness", "valence", "tempo"),
}


def dataset_of(key: str) -> Optional[str]:
    """The dataset of a raw object key (``streams/2024/a.csv`` -> ``streams``), or None."""
    head = key.split("/", 1)[0]
    if head in DATASETS and "/" in key and key.lower().endswith(".csv"):
        return head
    return None
