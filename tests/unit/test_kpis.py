"""KPI functions against hand-computed expectations on tiny data."""

import datetime as dt
import json
from pathlib import Path

import pytest

from music_streaming import kpis

D1, D2 = dt.date(2024, 6, 1), dt.date(2024, 6, 2)

SONGS = [  # track_id, track_genre, track_name, artists, duration_ms
    ("t1", "pop", "One, Two", "A;B", "100"),
    ("t2", "pop", 'Say "Hi"', "C", "200"),
    ("t3", "rock", "Três", "D", "300"),
    ("t4", "pop", "Four", "E", "400"),
    ("t3", "acoustic", "Três", "D", "300"),  # listed under two genres: counts under 'acoustic'
]
USERS = [("u1", "Ann", "30", "US"), ("u2", "Bob", "41", "DE"), ("u3", "Cy", "25", "FR")]
STREAMS = [
    ("u1", "t1", "2024-06-01 10:00:00"),
    ("u1", "t1", "2024-06-01 11:00:00"),
    ("u2", "t1", "2024-06-01 12:00:00"),
    ("u2", "t2", "2024-06-01 12:05:00"),
    ("u3", "t4", "2024-06-01 13:00:00"),
    ("u3", "t3", "2024-06-01 14:00:00"),
    ("u1", "t3", "2024-06-02 09:00:00"),
    ("u9", "t1", "2024-06-02 09:30:00"),  # unknown user: still a play
    ("u1", "tX", "2024-06-02 10:00:00"),  # unknown track: reported, not in genre KPIs
    ("u1", "t1", "2024-06-01 10:00:00"),  # exact duplicate event
    ("", "t1", "2024-06-01 10:00:00"),  # missing user_id
    ("u1", "t1", "yesterday"),  # bad timestamp
]


@pytest.fixture(scope="module")
def frames(spark):
    songs_raw = spark.createDataFrame(
        SONGS,
        "track_id string, track_genre string, track_name string, artists string, "
        "duration_ms string",
    )
    users_raw = spark.createDataFrame(
        USERS, "user_id string, user_name string, user_age string, user_country string"
    )
    streams_raw = spark.createDataFrame(
        STREAMS, "user_id string, track_id string, listen_time string"
    )
    songs = kpis.song_dimension(songs_raw)
    users = kpis.user_dimension(users_raw)
    valid, rejected = kpis.split_streams(kpis.typed_streams(streams_raw))
    enriched = kpis.enrich_events(kpis.distinct_events(valid), songs, users)
    return {
        "songs": songs,
        "users": users,
        "valid": valid,
        "rejected": rejected,
        "enriched": enriched,
        "kpis": kpis.collect_daily_kpis(valid, songs, users),
    }


def by(result, *order):
    return sorted(result, key=lambda r: tuple(r[k] for k in order))


def rows(df, *order):
    return [r.asDict() for r in df.orderBy(*order).collect()]


def test_split_streams_rejects_bad_rows(frames):
    assert frames["rejected"].count() == 2
    assert frames["valid"].count() == 10


def test_distinct_events_count_each_event_once(frames):
    events = [(r.listen_date, r.track_id, r.user_id) for r in frames["enriched"].collect()]
    assert events.count((D1, "t1", "u1")) == 2  # three rows, one of them a duplicate event
    assert len(events) == 9


def test_track_listed_under_two_genres_counts_once(frames):
    genres = {r.track_id: r.genre for r in frames["songs"].collect()}
    assert genres == {"t1": "pop", "t2": "pop", "t3": "acoustic", "t4": "pop"}


def test_genre_daily_kpis(frames):
    result = by(frames["kpis"]["genre_daily"], "listen_date", "genre")
    assert result == [
        # D1 acoustic: u3 played t3 (300)
        {
            "listen_date": D1,
            "genre": "acoustic",
            "listen_count": 1,
            "unique_listeners": 1,
            "total_listening_time_ms": 300,
            "avg_listening_time_per_user_ms": 300.0,
        },
        # D1 pop: u1 t1 x2 (200), u2 t1+t2 (300), u3 t4 (400) -> 5 plays, 3 users, 900 ms
        {
            "listen_date": D1,
            "genre": "pop",
            "listen_count": 5,
            "unique_listeners": 3,
            "total_listening_time_ms": 900,
            "avg_listening_time_per_user_ms": 300.0,
        },
        {
            "listen_date": D2,
            "genre": "acoustic",
            "listen_count": 1,
            "unique_listeners": 1,
            "total_listening_time_ms": 300,
            "avg_listening_time_per_user_ms": 300.0,
        },
        {
            "listen_date": D2,
            "genre": "pop",
            "listen_count": 1,
            "unique_listeners": 1,
            "total_listening_time_ms": 100,
            "avg_listening_time_per_user_ms": 100.0,
        },
    ]


def test_average_is_per_listener_not_per_play(spark):
    songs = kpis.song_dimension(
        spark.createDataFrame(
            [("t1", "pop", "n", "a", "100")],
            "track_id string, track_genre string, track_name string, artists string, duration_ms string",
        )
    )
    streams = kpis.typed_streams(
        spark.createDataFrame(
            [
                ("u1", "t1", "2024-06-01 10:00:00"),
                ("u1", "t1", "2024-06-01 10:01:00"),
                ("u1", "t1", "2024-06-01 10:02:00"),
                ("u2", "t1", "2024-06-01 10:03:00"),
            ],
            "user_id string, track_id string, listen_time string",
        )
    )
    users = spark.createDataFrame([("u1",), ("u2",)], "user_id string")
    [row] = kpis.collect_daily_kpis(streams, songs, users)["genre_daily"]
    assert row["total_listening_time_ms"] == 400
    assert row["avg_listening_time_per_user_ms"] == 200.0  # per play it would be 100


def test_top_songs_ties_broken_by_track_id(frames):
    result = rows(
        kpis.top_songs(frames["enriched"], frames["songs"]), "listen_date", "genre", "rank"
    )
    d1_pop = [
        (r["rank"], r["track_id"], r["play_count"])
        for r in result
        if r["listen_date"] == D1 and r["genre"] == "pop"
    ]
    assert d1_pop == [(1, "t1", 3), (2, "t2", 1), (3, "t4", 1)]
    assert [r["track_name"] for r in result if r["track_id"] == "t2"] == ['Say "Hi"']
    # the collected KPIs carry the same rows
    assert by(frames["kpis"]["top_songs"], "listen_date", "genre", "rank") == result


def test_top_songs_keeps_only_n(spark, frames):
    top1 = kpis.top_songs(frames["enriched"], frames["songs"], n=1)
    assert top1.filter("rank > 1").count() == 0
    assert top1.count() == 4  # one per (day, genre)


def test_top_genres_per_day(frames):
    result = by(frames["kpis"]["top_genres"], "listen_date", "rank")
    assert [(r["listen_date"], r["rank"], r["genre"], r["listen_count"]) for r in result] == [
        (D1, 1, "pop", 5),
        (D1, 2, "acoustic", 1),
        (D2, 1, "acoustic", 1),
        (D2, 2, "pop", 1),  # tie on count: alphabetical
    ]


def test_top_genres_limit():
    genre_daily = [{"listen_date": D1, "genre": f"g{i}", "listen_count": i} for i in range(8)]
    result = kpis.top_genre_rows(genre_daily)
    assert [(r["rank"], r["genre"]) for r in result] == [
        (1, "g7"),
        (2, "g6"),
        (3, "g5"),
        (4, "g4"),
        (5, "g3"),
    ]


def test_a_known_genre_named_unknown_stays_apart_from_unknown_tracks():
    totals = [
        {
            "listen_date": D1,
            "genre": "unknown",
            "known_track": True,
            "listen_count": 2,
            "unique_listeners": 1,
            "total_listening_time_ms": 10,
            "unknown_user_streams": 0,
        },
        {
            "listen_date": D1,
            "genre": "unknown",
            "known_track": False,
            "listen_count": 5,
            "unique_listeners": 3,
            "total_listening_time_ms": 0,
            "unknown_user_streams": 1,
        },
    ]
    [genre] = kpis.genre_daily_rows(totals)
    assert (genre["listen_count"], genre["avg_listening_time_per_user_ms"]) == (2, 10.0)
    assert kpis.stream_quality_rows(totals) == [
        {"listen_date": D1, "streams": 7, "unknown_track_streams": 5, "unknown_user_streams": 1}
    ]


def test_unknown_track_and_user_are_counted(frames):
    result = frames["kpis"]["stream_quality"]
    assert result == [
        {"listen_date": D1, "streams": 6, "unknown_track_streams": 0, "unknown_user_streams": 0},
        {"listen_date": D2, "streams": 3, "unknown_track_streams": 1, "unknown_user_streams": 1},
    ]


def test_current_reference_takes_the_newest_upload_not_the_newest_processing(spark):
    versions = spark.createDataFrame(
        [
            ("t1", "rock", "songs/b.csv", "v2", "2024-06-02"),  # uploaded last, processed first
            ("t1", "pop", "songs/a.csv", "v1", "2024-06-01"),
            ("t1", "jazz", "songs/b.csv", "v2", "2024-06-02"),  # same upload, two genres: min
            ("t2", "jazz", "songs/a.csv", "v1", "2024-06-01"),
        ],
        "track_id string, genre string, source_key string, source_version string, "
        "upload_order string",
    )
    result = rows(kpis.current_reference(versions, "track_id"), "track_id")
    assert result == [{"track_id": "t1", "genre": "jazz"}, {"track_id": "t2", "genre": "jazz"}]


VECTORS = json.loads((Path(__file__).parent / "parsing_vectors.json").read_text())


def test_timestamp_vectors_in_spark(spark):
    """The same vectors as the Python side (test_validation): one contract, two engines."""
    frame = spark.createDataFrame([(v,) for v, _ in VECTORS["timestamps"]], "value string")
    parsed = frame.select(kpis.contract_timestamp(frame["value"]).alias("t")).collect()
    got = [r["t"].strftime("%Y-%m-%dT%H:%M:%S.%f") if r["t"] else None for r in parsed]
    assert got == [expected for _, expected in VECTORS["timestamps"]]


def test_integer_vectors_in_spark(spark):
    frame = spark.createDataFrame([(v,) for v, _ in VECTORS["integers"]], "value string")
    parsed = frame.select(kpis.contract_integer(frame["value"]).alias("n")).collect()
    assert [r["n"] for r in parsed] == [expected for _, expected in VECTORS["integers"]]


def test_multi_batch_day_equals_union(spark, frames):
    """One day's streams split over two batches give the KPIs of their union."""
    valid = frames["valid"]
    first, second = (
        valid.filter("listen_time < '2024-06-01 12:00:00'"),
        valid.filter("listen_time >= '2024-06-01 12:00:00'"),
    )
    # the second batch re-delivers one event of the first: it must count once
    overlap = first.limit(1)
    union = first.unionByName(second).unionByName(overlap)
    merged = kpis.collect_daily_kpis(union, frames["songs"], frames["users"])
    assert by(merged["genre_daily"], "listen_date", "genre") == by(
        frames["kpis"]["genre_daily"], "listen_date", "genre"
    )


def test_streams_need_a_utc_session(spark):
    """Plain times are cast in the session's zone, so any other zone is refused, not misread."""
    frame = spark.createDataFrame(
        [("u1", "t1", "2024-06-01 09:05:00")], "user_id string, track_id string, listen_time string"
    )
    spark.conf.set("spark.sql.session.timeZone", "Europe/Paris")
    try:
        with pytest.raises(ValueError, match="must be UTC"):
            kpis.typed_streams(frame)
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")


def test_changed_ids_are_those_whose_kpi_inputs_differ(spark):
    schema = "track_id string, genre string, track_name string, artists string, duration_ms long"
    before = spark.createDataFrame(
        [
            ("t1", "pop", "One", "A", 100),
            ("t2", "rock", "Two", "B", 200),
            ("t3", "jazz", "3", "C", 1),
        ],
        schema,
    )
    after = spark.createDataFrame(
        [
            ("t1", "pop", "One", "A", 100),  # the same
            ("t2", "rock", "Two", "B", None),  # a value the KPIs read is gone
            ("t4", "pop", "Four", "D", 400),  # new
        ],  # t3 dropped
        schema,
    )
    changed = kpis.changed_ids(before, after, "songs")
    assert sorted(r.track_id for r in changed.collect()) == ["t2", "t3", "t4"]
    assert kpis.changed_ids(after, after, "songs").count() == 0


def test_a_user_changes_the_kpis_only_by_being_known_or_not(spark):
    schema = "user_id string, user_name string, user_age long, user_country string"
    before = spark.createDataFrame([("u1", "Ann", 30, "US"), ("u2", "Bob", 41, "DE")], schema)
    after = spark.createDataFrame([("u1", "Anne", 31, "FR"), ("u3", "Cy", 25, "FR")], schema)
    changed = kpis.changed_ids(before, after, "users")
    assert sorted(r.user_id for r in changed.collect()) == ["u2", "u3"]


def test_rows_over_the_contracts_lengths_are_dropped_as_validation_rejects_them(spark):
    from music_streaming import datasets

    long_genre = "g" * (datasets.GENRE_CHARS + 1)
    songs = spark.createDataFrame(
        [("t1", "pop", "A", "X", "1"), ("t2", long_genre, "B", "Y", "1")],
        "track_id string, track_genre string, track_name string, artists string, "
        "duration_ms string",
    )
    assert [r["track_id"] for r in kpis.song_rows(songs).collect()] == ["t1"]
    streams = spark.createDataFrame(
        [("u1", "t1", "2024-06-01 10:00:00"), ("u" * 257, "t1", "2024-06-01 10:00:00")],
        "user_id string, track_id string, listen_time string",
    )
    valid, rejected = kpis.split_streams(kpis.typed_streams(streams))
    assert (valid.count(), rejected.count()) == (1, 1)
