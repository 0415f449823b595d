"""Fuzzed bad input (hypothesis): any bytes, chunking or event shape gives a report or a clear error,
never a crash, within bounded time and memory."""

from __future__ import annotations

import json
import tracemalloc
import zlib

import lambda_function as handler
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lambda_fakes import FakeLedger, FakeMwaa, patch_lambda_clients

from music_streaming import datasets
from music_streaming import ledger as file_ledger
from music_streaming.validation import INVALID, VALID, validate_csv

# Derandomized: CI runs the same examples every time (no flaky verdicts) and writes no database.
FUZZ = settings(
    max_examples=400,
    deadline=2000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
KEYS = [f"{name}/fuzz.csv" for name in datasets.DATASETS] + ["other/fuzz.csv", "streams/x.txt"]

# Text that looks like CSV often enough to reach the row rules: the columns the specs name, the
# characters CSV cares about, numbers, timestamps, non-ASCII and a BOM.
CSV_TOKENS = st.sampled_from(
    sorted({c for spec in datasets.SPECS.values() for c in spec.required + spec.read})
    + [",", '"', "\n", "\r\n", "\r", " ", "\t", "\ufeff", "é", "1", "-3", "1.5e3", "NaN", ""]
    + ["2024-06-01 12:00:00", "2024-06-01T12:00:00.123456789+05:30", "2024-13-40 99:99:99"]
)
CSV_LIKE = st.lists(CSV_TOKENS, max_size=80).map(lambda parts: "".join(parts).encode())
ANY_BYTES = st.one_of(st.binary(max_size=2000), CSV_LIKE)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` split at the given offsets (a multi-byte character or CRLF may be cut in two)."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]


@FUZZ
@given(key=st.sampled_from(KEYS), data=ANY_BYTES, cuts=st.lists(st.integers(0, 4000), max_size=6))
def test_any_bytes_give_a_report_whatever_the_chunking(key, data, cuts):
    whole = validate_csv(key, [data])
    report = validate_csv(key, chunked(data, cuts))
    assert report == whole  # how S3 delivers the body does not change the verdict
    assert report["status"] in (VALID, INVALID)
    assert all(isinstance(e, str) and e for e in report["errors"])
    assert (report["status"] == INVALID) == bool(report["errors"])
    json.dumps(report)  # the report is written as JSON as it is
    if datasets.dataset_of(key) is not None:  # read to the end: size and checksum cover it all
        assert (report["bytes"], report["crc32"]) == (len(data), zlib.crc32(data))
    for sample in report["bad_row_samples"]:
        assert sample["line"] >= 1 and sample["reason"]


@FUZZ
@given(
    header=st.sampled_from(["user_id,track_id,listen_time", "track_id,user_id,listen_time,extra"]),
    rows=st.lists(st.lists(CSV_TOKENS.filter(lambda t: t not in "\r\n"), max_size=5), max_size=30),
    ratio=st.sampled_from([0.0, 0.1, 1.0]),
)
def test_bad_rows_are_counted_and_named_by_line(header, rows, ratio):
    body = "\n".join([header, *(",".join(r) for r in rows)]).encode()
    report = validate_csv("streams/fuzz.csv", [body], max_bad_row_ratio=ratio)
    assert report["bad_row_count"] == sum(report["bad_rows_by_reason"].values())
    assert report["bad_row_count"] <= report["row_count"]
    if report["row_count"] and report["bad_row_count"] / report["row_count"] > ratio:
        assert report["status"] == INVALID


def test_a_huge_line_is_refused_in_bounded_memory():
    """64 MiB without a line break, streamed in 1 MiB chunks: an error naming the line, and memory
    that stays near the line limit instead of the file's size."""
    chunk = b"x" * (1 << 20)
    tracemalloc.start()
    try:
        report = validate_csv("streams/huge.csv", (chunk for _ in range(64)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report["status"] == INVALID
    assert report["errors"][0].startswith("line 1 is longer than")
    assert report["bytes"] == 64 << 20
    assert peak < 48 << 20  # the line limit (8 MiB of text) plus decoding copies, not 64 MiB


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELD = st.one_of(
    JSON, st.text(max_size=30), st.just("streams/a%20b.csv"), st.just("2024-06-01T12:00:00Z")
)
S3_RECORDS = st.fixed_dictionaries(
    {
        "s3": st.fixed_dictionaries(
            {
                "bucket": st.fixed_dictionaries({"name": FIELD}),
                "object": st.dictionaries(
                    st.sampled_from(["key", "versionId", "eTag", "size", "sequencer"]), FIELD
                ),
            }
        )
    },
    optional={"eventTime": FIELD},
)


@FUZZ
@given(
    event=st.one_of(
        JSON, st.fixed_dictionaries({"Records": st.lists(S3_RECORDS | JSON, max_size=5)})
    )
)
def test_any_event_shape_gives_a_result_or_a_clear_error(event, monkeypatch_session):
    try:
        outcome = handler.lambda_handler(event, None)
    except ValueError as exc:
        assert "not an S3 notification event" in str(exc)
        assert not (isinstance(event, dict) and isinstance(event.get("Records", []), list))
        return
    records = event.get("Records") or []
    decided = sum(
        len(outcome[part]) for part in ("received", "ignored", "malformed", "already_recorded")
    )
    # every record is recorded (now or by an earlier event), ignored or named as malformed
    assert decided == len(records)
    for problem in outcome["malformed"]:
        assert problem.startswith("not an S3 object record (")


@FUZZ
@given(record=S3_RECORDS | JSON)
def test_an_event_record_is_a_file_version_or_a_named_problem(record):
    try:
        version = file_ledger.version_from_event(record)
    except file_ledger.MalformedRecord as exc:
        assert str(exc).startswith("not an S3 object record (")
        return
    assert version.bucket and version.key and version.version_id not in ("", "etag-")
    assert version.size >= 0 and version.uploaded_at.endswith("Z")


@pytest.fixture(scope="module")
def monkeypatch_session():
    """The Lambda's environment and fakes of its clients, for the whole module (hypothesis runs
    a test body many times per fixture)."""
    with pytest.MonkeyPatch.context() as patch:
        ledger = FakeLedger()
        patch_lambda_clients(patch, handler, ledger)
        patch.setattr(handler, "mwaa_client", lambda region: FakeMwaa())
        for name, value in {
            "MWAA_ENVIRONMENT_NAME": "env",
            "DAG_ID": "music_streaming_realtime_pipeline",
            "TRIGGER_METHOD": "rest_api",
        }.items():
            patch.setenv(name, value)
        yield ledger


def test_a_bad_byte_is_located_where_it_is_whatever_the_chunking():
    """Found by the fuzzing above: a character cut between two chunks shifted the offset."""
    for chunks in ([b"ab\xc2\x00"], [b"ab\xc2", b"\x00"], [b"a", b"b\xc2", b"\x00"]):
        report = validate_csv("streams/x.csv", chunks)
        assert report["errors"] == ["not valid UTF-8: invalid continuation byte at byte offset 2"]
