"""Validation rules on good and bad files (run with the standard library only)."""

import json
import tracemalloc
import zlib
from pathlib import Path

import pytest

from music_streaming import datasets
from music_streaming.validation import INVALID, VALID, batch_report, validate_csv

GOOD_STREAMS = (
    b"user_id,track_id,listen_time\nu1,t1,2024-06-01 10:00:00\nu2,t2,2024-06-01 11:00:00\n"
)


def check(key, data, chunk=7, **kwargs):
    # small chunks exercise multi-byte characters and lines split across chunk boundaries
    return validate_csv(key, [data[i : i + chunk] for i in range(0, len(data), chunk)], **kwargs)


def test_good_streams_file():
    report = check("streams/a.csv", GOOD_STREAMS)
    assert report["status"] == VALID, report["errors"]
    assert report["row_count"] == 2 and report["bad_row_count"] == 0
    assert report["bytes"] == len(GOOD_STREAMS)


def test_songs_with_quotes_commas_and_non_ascii():
    data = (
        "id,track_id,artists,album_name,track_name,popularity,duration_ms,track_genre\n"
        '0,t1,"Beyoncé;Jay-Z","Album, ""Live""","Crazy in Love, Pt. 2",73,230666,pop\n'
        '1,t2,Sigur Rós,Ágætis byrjun,"Multi\nline title",50,1000,ambient\n'
    ).encode()
    report = check("songs/s.csv", data, chunk=3)
    assert report["status"] == VALID, report
    assert report["row_count"] == 2


def test_missing_columns():
    report = check("streams/a.csv", b"user_id,listen_time\nu1,2024-06-01 10:00:00\n")
    assert report["status"] == INVALID
    assert report["missing_columns"] == ["track_id"]
    assert "missing required columns: track_id" in report["errors"]


def test_empty_file():
    report = check("users/u.csv", b"")
    assert report["status"] == INVALID and report["errors"] == ["empty file"]


def test_header_only():
    report = check("users/u.csv", b"user_id,user_name,user_age,user_country\r\n")
    assert report["status"] == INVALID
    assert report["errors"] == ["no data rows (header only)"]
    # a header-only streams file is how a key's rows are retracted
    report = check("streams/s.csv", b"user_id,track_id,listen_time\n")
    assert report["status"] == VALID and report["row_count"] == 0


def test_malformed_rows_are_counted_with_samples():
    data = (
        b"user_id,track_id,listen_time\n"
        b"u1,t1,2024-06-01 10:00:00\n"
        b"u2,t2\n"  # too few fields
        b",t3,2024-06-01 10:00:00\n"  # missing id
        b"u4,t4,01/06/2024 10:00\n"
    )  # bad timestamp
    report = check("streams/a.csv", data)
    assert report["status"] == INVALID
    assert report["row_count"] == 4 and report["bad_row_count"] == 3
    assert report["bad_rows_by_reason"] == {
        "missing user_id": 1,
        "unparseable listen_time": 1,
        "wrong number of fields": 1,
    }
    assert [s["line"] for s in report["bad_row_samples"]] == [3, 4, 5]
    assert "3 of 4 rows are malformed" in report["errors"][0]


def test_bad_row_ratio_tolerance():
    data = GOOD_STREAMS + b"u3,t3,not a time\n" + b"u4,t4,2024-06-01 12:00:00\n" * 7
    assert check("streams/a.csv", data, max_bad_row_ratio=0.2)["status"] == VALID
    assert check("streams/a.csv", data, max_bad_row_ratio=0.05)["status"] == INVALID


def test_non_numeric_fields():
    data = b"user_id,user_name,user_age,user_country\nu1,Ann,thirty,US\nu2,Bob,,DE\n"
    report = check("users/u.csv", data)
    assert report["bad_rows_by_reason"] == {"non-integer user_age": 1}


def test_bom_and_crlf_are_accepted():
    data = b"\xef\xbb\xbfuser_id,track_id,listen_time\r\nu1,t1,2024-06-01 10:00:00\r\n"
    report = check("streams/a.csv", data, chunk=2)
    assert report["status"] == VALID, report["errors"]
    assert report["utf8_bom"] is True
    assert report["columns"] == ["user_id", "track_id", "listen_time"]


def test_non_utf8_is_rejected_with_offset():
    data = "user_id,track_id,listen_time\nu1,Café,2024-06-01 10:00:00\n".encode("latin-1")
    report = check("streams/a.csv", data)
    assert report["status"] == INVALID
    assert report["errors"][0].startswith("not valid UTF-8")
    assert "byte offset 35" in report["errors"][0]


@pytest.mark.parametrize("key", ["streams/a.txt", "other/a.csv", "a.csv"])
def test_keys_outside_the_datasets(key):
    report = check(key, GOOD_STREAMS)
    assert report["status"] == INVALID and report["dataset"] is None


def test_unterminated_quote_is_a_csv_error():
    report = check("streams/a.csv", b'user_id,track_id,listen_time\nu1,"t1,2024-06-01 10:00:00\n')
    assert report["status"] == INVALID
    assert any("CSV" in e or "fields" in e for e in report["errors"]), report["errors"]


def test_batch_report():
    good = check("streams/a.csv", GOOD_STREAMS)
    bad = check("users/u.csv", b"")
    report = batch_report("b1", "raw", [good, bad], "2024-06-01T00:00:00Z")
    assert report["status"] == INVALID
    assert report["valid_files"] == ["streams/a.csv"]
    assert report["invalid_files"] == ["users/u.csv"]
    assert batch_report("b1", "raw", [good], "t")["status"] == VALID
    assert batch_report("b1", "raw", [], "t")["status"] == INVALID


# --------------------------------------------------------------------- one parsing contract
VECTORS = json.loads((Path(__file__).parent / "parsing_vectors.json").read_text())


@pytest.mark.parametrize("value,expected", VECTORS["timestamps"])
def test_timestamp_vectors_in_python(value, expected):
    parsed = datasets.parse_timestamp(value)
    assert (parsed.strftime("%Y-%m-%dT%H:%M:%S.%f") if parsed else None) == expected


@pytest.mark.parametrize("value,expected", VECTORS["integers"])
def test_integer_vectors_in_python(value, expected):
    assert datasets.parse_integer(value) == expected


def test_iso_timestamps_and_padding_are_valid_rows():
    data = (
        b"user_id,track_id,listen_time\n u1 ,t1,2024-06-01T10:00:00Z\n"
        b"u2,t2,2024-06-01T12:00:00.250+02:00\nu3,t3,2024-6-1 9:5:0\n"
    )
    report = check("streams/a.csv", data)
    assert report["bad_rows_by_reason"] == {"unparseable listen_time": 1}
    assert report["bad_row_samples"][0]["line"] == 4


def test_song_without_genre_is_a_bad_row():
    data = b"track_id,track_genre,track_name,artists\nt1,pop,A,B\nt2, ,C,D\n"
    assert check("songs/s.csv", data)["bad_rows_by_reason"] == {"missing track_genre": 1}


def test_size_and_crc32_cover_every_byte_even_when_checks_stop_early():
    for data in (GOOD_STREAMS, b'user_id,track_id,listen_time\nu1,"t1\n' + b"x" * 5000):
        report = check("streams/a.csv", data, chunk=64)
        assert report["bytes"] == len(data) and report["crc32"] == zlib.crc32(data)


def test_a_file_without_line_breaks_is_rejected_in_bounded_memory():
    def endless_line():  # 64 MiB without a newline, produced lazily
        yield b"user_id,track_id,listen_time\nu1,t1,"
        for _ in range(64):
            yield b"9" * (1024 * 1024)

    tracemalloc.start()
    report = validate_csv("streams/a.csv", endless_line())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert report["status"] == INVALID
    assert any("line 2 is longer than" in e for e in report["errors"]), report["errors"]
    assert peak < 40 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB"


@pytest.mark.parametrize(
    "key,problem",
    [
        ("streams/a.CSV", None),
        ("streams/a.Csv", None),
        ("streams/a.csv.gz", "compressed"),
        ("streams/a.txt", "not a .csv"),
        ("other/a.csv", "outside"),
        ("a.csv", "outside"),
        ("streams/", "folder"),
        ("streams/dir/", "folder"),
    ],
)
def test_which_keys_the_pipeline_takes(key, problem):
    dataset, why = datasets.dataset_and_problem(key)
    assert (dataset is None) == (problem is not None)
    assert problem is None or problem in why


def test_fields_over_the_contracts_lengths_are_rejected_with_their_reason():
    genre = "g" * (datasets.GENRE_CHARS + 1)
    data = (
        "track_id,track_genre,track_name,artists\n"
        f"t1,{genre},Song,Band\nt2,pop,{'n' * 1025},Band\nt3,pop,Fine,Band\n"
    ).encode()
    report = check("songs/s.csv", data, chunk=4096, max_bad_row_ratio=0.9)
    assert report["status"] == VALID and report["bad_row_count"] == 2
    assert report["bad_rows_by_reason"] == {
        f"track_genre over {datasets.GENRE_CHARS} characters": 1,
        f"track_name over {datasets.NAME_CHARS} characters": 1,
    }
    assert report["bad_row_samples"][0]["line"] == 2
    long_id = GOOD_STREAMS + f"{'u' * 300},t1,2024-06-01 10:00:00\n".encode()
    assert check("streams/a.csv", long_id, chunk=4096)["bad_rows_by_reason"] == {
        f"user_id over {datasets.ID_CHARS} characters": 1
    }


def test_a_500_kb_header_is_refused_whole_without_keeping_its_names():
    header = ",".join(["user_id", "track_id", "listen_time"] + [f"c{n:06d}" for n in range(70_000)])
    report = check("streams/h.csv", (header + "\n").encode(), chunk=65536)
    assert report["status"] == INVALID and report["columns"] == []
    assert report["errors"] == [
        f"header line 1 is {len(header)} characters; at most {datasets.MAX_HEADER_CHARS}"
    ]
