"""The three input datasets and the one parsing contract both sides of the pipeline apply.

Validation (Python, standard library) and the ETL job (Spark) accept exactly the same values: the
patterns below are written for both Python's ``re`` and Java's regex (ASCII classes only, no
Python-only syntax), and ``tests/unit/parsing_vectors.json`` runs the same vectors through both.

- Padding is spaces only (Spark's ``trim`` removes spaces, not tabs), removed before any rule.
- Timestamps: ``YYYY-MM-DD HH:MM:SS`` (the designs' format) or ISO 8601 with a ``T``, an optional
  fraction (up to 9 digits, truncated to microseconds) and an optional ``Z`` or ``±HH:MM``/``±HHMM``
  offset. Without an offset the time is UTC; with one it is converted to UTC.
- Integers: optional sign and ASCII digits only (``12.0``, ``1e3``, ``1_000`` are not integers).
- Headers are matched by name, per file, never by position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Dict, Optional, Tuple

STREAMS, SONGS, USERS = "streams", "songs", "users"
DATASETS = (STREAMS, SONGS, USERS)
CSV_SUFFIX = ".csv"


@dataclass(frozen=True)
class DatasetSpec:
    """What the pipeline knows of one input dataset (validation and the ETL job read it here)."""

    name: str
    required: Tuple[str, ...]  # columns a file must have (by name)
    non_empty: Tuple[str, ...]  # an empty one makes the row bad (Spark would drop it)
    read: Tuple[str, ...]  # columns the ETL job reads, by name, from every file
    key: Optional[str] = None  # the id of a reference row (a newer upload replaces it)
    timestamps: Tuple[str, ...] = ()
    integers: Tuple[str, ...] = ()  # checked when present
    floats: Tuple[str, ...] = ()  # checked when present
    # Longest value (characters) of a column: so every KPI item and key stays within DynamoDB's
    # limits (a genre is in partition keys: 1 KB as UTF-8 at most; items 400 KB).
    max_chars: Tuple[Tuple[str, int], ...] = ()


ID_CHARS, GENRE_CHARS, NAME_CHARS = 256, 200, 1024
# A header longer than this is refused whole (its column names would not fit the ledger's item).
MAX_HEADER_CHARS = 16 * 1024

SPECS: Dict[str, DatasetSpec] = {
    STREAMS: DatasetSpec(
        STREAMS,
        required=("user_id", "track_id", "listen_time"),
        non_empty=("user_id", "track_id"),
        read=("user_id", "track_id", "listen_time"),
        timestamps=("listen_time",),
        max_chars=(("user_id", ID_CHARS), ("track_id", ID_CHARS)),
    ),
    # Songs follow the Spotify tracks layout.
    SONGS: DatasetSpec(
        SONGS,
        required=("track_id", "track_genre", "track_name", "artists"),
        non_empty=("track_id", "track_genre"),
        read=("track_id", "track_genre", "track_name", "artists", "duration_ms"),
        key="track_id",
        integers=("popularity", "duration_ms", "key", "mode", "time_signature"),
        floats=(
            "danceability",
            "energy",
            "loudness",
            "speechiness",
            "acousticness",
            "instrumentalness",
            "liveness",
            "valence",
            "tempo",
        ),
        max_chars=(
            ("track_id", ID_CHARS),
            ("track_genre", GENRE_CHARS),
            ("track_name", NAME_CHARS),
            ("album_name", NAME_CHARS),
            ("artists", NAME_CHARS),
        ),
    ),
    USERS: DatasetSpec(
        USERS,
        required=("user_id", "user_name", "user_age", "user_country"),
        non_empty=("user_id",),
        read=("user_id", "user_name", "user_age", "user_country"),
        key="user_id",
        integers=("user_age",),
        max_chars=(("user_id", ID_CHARS), ("user_name", NAME_CHARS), ("user_country", 64)),
    ),
}
REFERENCE_DATASETS = tuple(name for name, spec in SPECS.items() if spec.key)


PAD = " "
# Groups: year, month, day, hour, minute, second, fraction, offset.
TIMESTAMP_PATTERN = (
    r"^([1-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[ T]"
    r"([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])(?:[.]([0-9]{1,9}))?"
    r"(Z|[+-](?:0[0-9]|1[0-4]):?[0-5][0-9])?$"
)
# The designs' own format, a subset of TIMESTAMP_PATTERN: the ETL job's fast path (a plain cast).
PLAIN_TIMESTAMP_PATTERN = (
    r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]) "
    r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"
)
INTEGER_PATTERN = r"^[+-]?[0-9]+$"
FLOAT_PATTERN = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
_INTEGER = re.compile(INTEGER_PATTERN)
_FLOAT = re.compile(FLOAT_PATTERN)


def unpad(value: Optional[str]) -> str:
    return (value or "").strip(PAD)


def parse_timestamp(value: Optional[str]) -> Optional[datetime]:
    """The UTC time a field names under the contract, or None."""
    match = _TIMESTAMP.fullmatch(unpad(value))
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    zone = timezone.utc
    if offset and offset != "Z":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            micros,
            tzinfo=zone,
        )
    except ValueError:  # 30 February and the like
        return None
    return moment.astimezone(timezone.utc)


def parse_integer(value: Optional[str]) -> Optional[int]:
    text = unpad(value)
    return int(text) if _INTEGER.fullmatch(text) else None


def is_float(value: Optional[str]) -> bool:
    return _FLOAT.fullmatch(unpad(value)) is not None


def dataset_of(key: str) -> Optional[str]:
    """The dataset of a raw object key (``streams/2024/a.csv`` -> ``streams``), or None.
    The suffix is matched without regard to case: exporters write ``.CSV`` too."""
    return dataset_and_problem(key)[0]


def dataset_and_problem(key: str) -> tuple[Optional[str], Optional[str]]:
    """(dataset, None) for a key the pipeline takes, else (None, why it does not)."""
    head = key.split("/", 1)[0]
    if head not in DATASETS or "/" not in key:
        return None, f"outside the dataset prefixes {', '.join(d + '/' for d in DATASETS)}"
    if key.endswith("/"):
        return None, "a folder marker, not a file"
    lowered = key.lower()
    if lowered.endswith(CSV_SUFFIX):
        return head, None
    if lowered.endswith((".csv.gz", ".gz", ".zip", ".bz2", ".zst")):
        return None, "compressed: upload the CSV uncompressed"
    return None, f"not a {CSV_SUFFIX} file"
