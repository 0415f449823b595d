"""The six daily per-genre KPIs as pure DataFrame-in/DataFrame-out functions (PySpark).

Definitions (all per day of ``listen_time`` and per genre, over plays of known tracks):
1. listen_count: plays.  2. unique_listeners: distinct users.  3. total_listening_time_ms: sum of the
played track's ``duration_ms``.  4. avg_listening_time_per_user_ms: (3) / (2).  5. top 3 songs per
genre and day by plays (ties: lower track_id first).  6. top 5 genres per day by listen_count (ties:
genre name). A stream event is identified by (user_id, track_id, listen_time): duplicates across
files and batches count once.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Dict, Iterable, List, Mapping, NamedTuple, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from music_streaming import datasets

UNKNOWN_GENRE = "unknown"
TOP_SONGS_PER_GENRE = 3
TOP_GENRES_PER_DAY = 5
STREAM_KEY = ["user_id", "track_id", "listen_time"]
# Where a processed or reference row came from: the raw file version (corrections replace it).
SOURCE_COLUMNS = ["source_key", "source_version", "upload_order"]


def _trimmed(name: str) -> Column:
    value = F.trim(F.col(name))
    return F.when(value == "", None).otherwise(value)


def within_limits(dataset: str, columns: Sequence[str]) -> Column:
    """True for a row whose ``columns`` respect the contract's lengths (``datasets`` max_chars:
    validation rejects a longer one with its reason; the ETL drops it the same way)."""
    ok = F.lit(True)
    for column, limit in datasets.SPECS[dataset].max_chars:
        if column in columns:
            ok = ok & (F.col(column).isNull() | (F.length(F.trim(F.col(column))) <= limit))
    return ok


def contract_timestamp(column: Column) -> Column:
    """A string column parsed by the contract of ``datasets.TIMESTAMP_PATTERN`` (UTC), else null;
    the same values ``datasets.parse_timestamp`` accepts (shared test vectors).

    The designs' plain ``YYYY-MM-DD HH:MM:SS`` is cast directly (one pattern check, no zone
    lookup: 3x faster over 5M rows); the session time zone must be UTC (``config.SPARK_CONF``,
    checked by ``typed_streams``). Any other form takes the full pattern.
    """
    text = F.trim(column)

    def part(group: int) -> Column:
        return F.regexp_extract(text, datasets.TIMESTAMP_PATTERN, group)

    micros = F.rpad(F.substring(part(7), 1, 6), 6, "0")
    seconds = F.concat(part(6), F.lit("."), micros).cast(T.DecimalType(8, 6))
    zone = F.when(part(8) == "", F.lit("UTC")).otherwise(part(8))
    moment = F.make_timestamp(
        part(1).cast("int"),
        part(2).cast("int"),
        part(3).cast("int"),
        part(4).cast("int"),
        part(5).cast("int"),
        seconds,
        zone,
    )
    return F.when(text.rlike(datasets.PLAIN_TIMESTAMP_PATTERN), text.cast(T.TimestampType())).when(
        text.rlike(datasets.TIMESTAMP_PATTERN), moment
    )


def require_utc_session(frame: DataFrame) -> None:
    zone = frame.sparkSession.conf.get("spark.sql.session.timeZone")
    if zone != "UTC":
        raise ValueError(f"the session time zone must be UTC (config.SPARK_CONF), not {zone!r}")


def contract_integer(column: Column) -> Column:
    """A string column as a long under ``datasets.INTEGER_PATTERN``, else null."""
    text = F.trim(column)
    return F.when(text.rlike(datasets.INTEGER_PATTERN), text.cast(T.LongType()))


def typed_streams(raw: DataFrame, keep: Sequence[str] = ()) -> DataFrame:
    """Raw string streams -> user_id, track_id, listen_time (timestamp), listen_date (date), plus
    the ``keep`` columns. Fields that do not parse become null; ``split_streams`` sets those aside.
    """
    require_utc_session(raw)
    fits = within_limits(datasets.STREAMS, raw.columns)  # an over-long id makes the row invalid
    return raw.select(
        *keep,
        F.when(fits, _trimmed("user_id")).alias("user_id"),
        F.when(fits, _trimmed("track_id")).alias("track_id"),
        contract_timestamp(F.col("listen_time")).alias("listen_time"),
    ).withColumn("listen_date", F.to_date("listen_time"))


def is_valid_stream() -> Column:
    return (
        F.col("user_id").isNotNull()
        & F.col("track_id").isNotNull()
        & F.col("listen_time").isNotNull()
    )


def split_streams(typed: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(valid streams, rejected rows)."""
    return typed.filter(is_valid_stream()), typed.filter(~is_valid_stream())


def distinct_events(streams: DataFrame) -> DataFrame:
    """Valid streams -> listen_date, track_id, user_id of each distinct event (the same event
    delivered twice counts once), hash-partitioned by user_id.

    That one shuffle of the events serves every KPI: each user's events sit in one partition, so
    the per-user aggregation of ``genre_day_totals`` needs no shuffle of its own, and the per-track
    counts of ``top_songs`` are reduced in each partition before theirs.
    """
    return (
        streams.repartition("user_id")
        .dropDuplicates(STREAM_KEY)
        .select("listen_date", "track_id", "user_id")
    )


def song_rows(raw_songs: DataFrame, keep: Sequence[str] = ()) -> DataFrame:
    """Typed song rows (track_id, genre, track_name, artists, duration_ms), one per input row."""
    duration = (
        contract_integer(F.col("duration_ms"))
        if "duration_ms" in raw_songs.columns
        else F.lit(None).cast(T.LongType())
    )
    return (
        raw_songs.filter(within_limits(datasets.SONGS, raw_songs.columns))
        .select(
            *keep,
            _trimmed("track_id").alias("track_id"),
            _trimmed("track_genre").alias("genre"),
            F.col("track_name").alias("track_name"),
            F.col("artists").alias("artists"),
            duration.alias("duration_ms"),
        )
        .filter(F.col("track_id").isNotNull() & F.col("genre").isNotNull())
    )


def user_rows(raw_users: DataFrame, keep: Sequence[str] = ()) -> DataFrame:
    """Typed user rows (user_id, user_name, user_age, user_country), one per input row."""
    return (
        raw_users.filter(within_limits(datasets.USERS, raw_users.columns))
        .select(
            *keep,
            _trimmed("user_id").alias("user_id"),
            F.col("user_name").alias("user_name"),
            contract_integer(F.col("user_age")).alias("user_age"),
            _trimmed("user_country").alias("user_country"),
        )
        .filter(F.col("user_id").isNotNull())
    )


class Reference(NamedTuple):
    """The Spark side of a reference dataset: its typed rows, the schema of none, and the values
    the KPIs read (besides whether an id is known at all)."""

    rows: Callable[..., DataFrame]
    empty_schema: str
    kpi_columns: tuple


REFERENCE: Dict[str, Reference] = {
    datasets.SONGS: Reference(
        song_rows,
        "track_id string, genre string, track_name string, artists string, duration_ms long",
        ("genre", "track_name", "artists", "duration_ms"),
    ),
    # Of a user, the KPIs only read that it is known (unknown_user_streams).
    datasets.USERS: Reference(
        user_rows, "user_id string, user_name string, user_age long, user_country string", ()
    ),
}


def changed_ids(before: DataFrame, after: DataFrame, dataset: str) -> DataFrame:
    """Ids (one column) whose KPI inputs differ between two current references: added, dropped,
    or with another value the KPIs read. A re-upload that changes nothing the KPIs read gives
    none, so no day needs recomputing."""
    key = datasets.SPECS[dataset].key
    columns = REFERENCE[dataset].kpi_columns

    def values(frame: DataFrame, side: str) -> DataFrame:
        return frame.select(key, F.struct(F.lit(True).alias("known"), *columns).alias(side))

    joined = values(before, "_before").join(values(after, "_after"), key, "full_outer")
    return joined.filter(~F.col("_before").eqNullSafe(F.col("_after"))).select(key)


def _one_per_key(rows: DataFrame, key: str) -> DataFrame:
    """The smallest record of each key, so reruns agree. The Spotify layout lists a track once
    per genre; counting a play under each would inflate totals, so a track counts under one genre,
    the alphabetically first."""
    values = [c for c in rows.columns if c != key and c not in SOURCE_COLUMNS]
    return (
        rows.groupBy(key)
        .agg(F.min(F.struct(*values)).alias("_row"))
        .select(key, *[F.col(f"_row.{c}").alias(c) for c in values])
    )


def song_dimension(raw_songs: DataFrame) -> DataFrame:
    """One row per track_id: genre, track_name, artists, duration_ms."""
    return _one_per_key(song_rows(raw_songs), "track_id")


def user_dimension(raw_users: DataFrame) -> DataFrame:
    """One row per user_id; a user listed twice keeps the smallest record."""
    return _one_per_key(user_rows(raw_users), "user_id")


def current_reference(rows: DataFrame, key: str) -> DataFrame:
    """Reference rows of every stored version (with SOURCE_COLUMNS, already limited to the current
    version of each file) -> one row per id from the newest *upload* that names it (not the newest
    processing: out-of-order processing cannot let an older file win)."""
    newest = Window.partitionBy(key).orderBy(
        F.col("upload_order").desc(), F.col("source_key").desc()
    )
    top = (
        rows.withColumn("_order", F.dense_rank().over(newest))
        .filter(F.col("_order") == 1)
        .drop("_order")
    )
    return _one_per_key(top, key)


def _join_reference(
    streams: DataFrame, songs: DataFrame, users: DataFrame, song_columns: Sequence[str]
) -> DataFrame:
    """Streams with the track's ``song_columns``, its genre (``unknown`` when the track is) and
    known_track / known_user flags. Reference tables are small next to streams, so they are
    broadcast (no shuffle of streams)."""
    known_users = users.select("user_id", F.lit(True).alias("known_user"))
    song_values = songs.select("track_id", "genre", *song_columns, F.lit(True).alias("known_track"))
    enriched = streams.join(F.broadcast(song_values), "track_id", "left").join(
        F.broadcast(known_users), "user_id", "left"
    )
    event_columns = [c for c in streams.columns if c not in ("user_id", "track_id")]
    return enriched.select(
        "user_id",
        "track_id",
        *event_columns,
        F.coalesce("genre", F.lit(UNKNOWN_GENRE)).alias("genre"),
        *song_columns,
        F.coalesce("known_track", F.lit(False)).alias("known_track"),
        F.coalesce("known_user", F.lit(False)).alias("known_user"),
    )


def enrich_streams(streams: DataFrame, songs: DataFrame, users: DataFrame) -> DataFrame:
    """Streams with the track's genre, name, artists, duration and flags for unknown track/user:
    the rows of processed_data/."""
    return _join_reference(streams, songs, users, ["track_name", "artists", "duration_ms"])


def enrich_events(events: DataFrame, songs: DataFrame, users: DataFrame) -> DataFrame:
    """Distinct events with only what the KPIs read (genre, duration_ms, flags): names would widen
    every row; ``top_songs`` joins them to its few rows instead."""
    return _join_reference(events, songs, users, ["duration_ms"])


def genre_day_totals(events: DataFrame) -> DataFrame:
    """Enriched distinct events -> per listen_date, genre and known_track: listen_count,
    unique_listeners, total_listening_time_ms (a missing duration counts 0) and
    unknown_user_streams; the rows KPIs 1-4, 6 and the data-quality counts are derived from."""
    per_user = events.groupBy("listen_date", "genre", "known_track", "user_id").agg(
        F.count(F.lit(1)).alias("plays"),
        F.coalesce(F.sum("duration_ms"), F.lit(0)).alias("listening_ms"),
        F.max("known_user").alias("known_user"),
    )
    return per_user.groupBy("listen_date", "genre", "known_track").agg(
        F.sum("plays").alias("listen_count"),
        F.count(F.lit(1)).alias("unique_listeners"),
        F.sum("listening_ms").alias("total_listening_time_ms"),
        F.sum(F.when(F.col("known_user"), 0).otherwise(F.col("plays"))).alias(
            "unknown_user_streams"
        ),
    )


def top_songs(events: DataFrame, songs: DataFrame, n: int = TOP_SONGS_PER_GENRE) -> DataFrame:
    """KPI 5 from enriched distinct events: listen_date, genre, rank, track_id, track_name,
    artists, play_count."""
    per_track = (
        events.filter("known_track")
        .groupBy("listen_date", "genre", "track_id")
        .agg(F.count(F.lit(1)).alias("play_count"))
    )
    order = Window.partitionBy("listen_date", "genre").orderBy(
        F.col("play_count").desc(), F.col("track_id").asc()
    )
    ranked = per_track.withColumn("rank", F.row_number().over(order)).filter(F.col("rank") <= n)
    names = songs.select("track_id", "track_name", "artists")
    return ranked.join(F.broadcast(names), "track_id", "left").select(
        "listen_date", "genre", "rank", "track_id", "track_name", "artists", "play_count"
    )


# The few derived rows (days x genres) are computed from the collected totals in plain Python.
def genre_daily_rows(totals: Iterable[Mapping]) -> List[dict]:
    """KPIs 1-4 per listen_date and genre of known tracks; the average is per listener, not per
    play."""
    return [
        {
            "listen_date": t["listen_date"],
            "genre": t["genre"],
            "listen_count": t["listen_count"],
            "unique_listeners": t["unique_listeners"],
            "total_listening_time_ms": t["total_listening_time_ms"],
            "avg_listening_time_per_user_ms": t["total_listening_time_ms"] / t["unique_listeners"],
        }
        for t in totals
        if t["known_track"]
    ]


def top_genre_rows(genre_daily: Iterable[Mapping], n: int = TOP_GENRES_PER_DAY) -> List[dict]:
    """KPI 6: per listen_date the n genres with most plays (ties: genre name)."""
    by_day: Dict[object, List[Mapping]] = defaultdict(list)
    for row in genre_daily:
        by_day[row["listen_date"]].append(row)
    return [
        {
            "listen_date": day,
            "rank": rank,
            "genre": row["genre"],
            "listen_count": row["listen_count"],
        }
        for day, rows in sorted(by_day.items())
        for rank, row in enumerate(
            sorted(rows, key=lambda r: (-r["listen_count"], r["genre"]))[:n], start=1
        )
    ]


def stream_quality_rows(totals: Iterable[Mapping]) -> List[dict]:
    """Per listen_date: streams, and how many name an unknown track or user (reported, not
    dropped)."""
    days: Dict[object, dict] = {}
    for t in totals:
        day = days.setdefault(
            t["listen_date"],
            {
                "listen_date": t["listen_date"],
                "streams": 0,
                "unknown_track_streams": 0,
                "unknown_user_streams": 0,
            },
        )
        day["streams"] += t["listen_count"]
        day["unknown_track_streams"] += 0 if t["known_track"] else t["listen_count"]
        day["unknown_user_streams"] += t["unknown_user_streams"]
    return [days[d] for d in sorted(days)]


def collect_daily_kpis(
    streams: DataFrame, songs: DataFrame, users: DataFrame
) -> Dict[str, List[dict]]:
    """The KPI rows of every day in ``streams`` (valid events), by result name
    (``dynamo_items.KPI_RESULTS``).

    One Spark query: the per-genre totals and the top songs as one tagged union, so the events
    are read, shuffled and de-duplicated for both in one job (Spark reuses the exchange) with
    nothing cached; only days x genres rows reach the driver, where the rest is derived.
    """
    events = enrich_events(distinct_events(streams), songs, users)
    parts = {"totals": genre_day_totals(events), "top_songs": top_songs(events, songs)}
    tagged = [frame.withColumn("_result", F.lit(name)) for name, frame in parts.items()]
    rows: Dict[str, List[dict]] = {name: [] for name in parts}
    for row in tagged[0].unionByName(tagged[1], allowMissingColumns=True).collect():
        name = row["_result"]
        rows[name].append({column: row[column] for column in parts[name].columns})
    totals = rows["totals"]
    genre_daily = genre_daily_rows(totals)
    return {
        "genre_daily": genre_daily,
        "top_songs": rows["top_songs"],
        "top_genres": top_genre_rows(genre_daily),
        "stream_quality": stream_quality_rows(totals),
    }
