"""The ETL's read of archived copies: records split by the rules the file was validated by, the
bytes proven to be the validated ones, and Spark's rows equal to those of Spark's own CSV reader
over the same file (the reader the ETL used before it read copies by version)."""

from __future__ import annotations

import csv
import io
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark import cloudpickle

from music_streaming import spark_io, validation

COLUMNS = ["user_id", "track_id", "listen_time"]
# the test's fetch runs in Spark's Python workers, which cannot import this module by name
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def csv_bytes(rows: list[list[str]], terminator: str, bom: bool = False) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator=terminator).writerows(rows)
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode()


def records(data: bytes, chunk: int = 7) -> list[str]:
    return list(validation.data_records(chunked(data, chunk), len(data), zlib.crc32(data)))


# values with commas, quotes and line breaks (a lone CR would make the file invalid CSV)
field = st.lists(st.sampled_from(["a", ",", '"', "\n", "\r\n", " ", "é", "日"]), max_size=5).map(
    "".join
)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.lists(field, min_size=3, max_size=3), max_size=8),
    terminator=st.sampled_from(["\n", "\r\n"]),
    chunk=st.integers(1, 40),
    bom=st.booleans(),
)
def test_each_record_is_one_row_of_the_file_whatever_it_quotes(rows, terminator, chunk, bom):
    found = records(csv_bytes([COLUMNS, *rows], terminator, bom), chunk)
    assert [next(csv.reader([record])) for record in found] == rows


def test_the_header_and_blank_lines_are_left_out():
    data = b"\n  \nuser_id,track_id,listen_time\r\nu1,t1,2024-06-01\r\n\r\nu2,t2,2024-06-02"
    assert records(data) == ["u1,t1,2024-06-01", "u2,t2,2024-06-02"]


def test_bytes_other_than_the_validated_ones_are_refused_after_the_last_record():
    data = b"user_id,track_id,listen_time\nu1,t1,2024-06-01\n"
    other = data.replace(b"u1", b"u9")
    with pytest.raises(validation.NotTheValidatedBytes, match="CRC32"):
        list(validation.data_records([other], len(data), zlib.crc32(data)))
    with pytest.raises(validation.NotTheValidatedBytes, match="bytes"):
        list(validation.data_records([data + b"u2,t2,x\n"], len(data), zlib.crc32(data)))


def local_copy(entry: dict):
    """``fetch`` over a local file (the test's stand-in for a version in S3)."""
    with open(entry["copy"], "rb") as body:
        yield from iter(lambda: body.read(5), b"")


def entry(path: Path, key: str, columns: list[str], index: int = 0) -> dict:
    data = path.read_bytes()
    return {
        "copy": str(path),
        "key": key,
        "version_id": f"v{index}",
        "upload_order": f"2024-06-01T10:00:00Z|{index:04d}",
        "columns": columns,
        "bytes": len(data),
        "crc32": zlib.crc32(data),
    }


def test_rows_equal_those_of_sparks_own_reader_over_the_file(spark, tmp_path):
    """Quoted commas, quotes and line breaks, empty and padded values, a short and a long row,
    CRLF, a BOM: the same rows as Spark's multiLine CSV reader gives for the file itself."""
    text = (
        "\ufefftrack_id,track_name,artists,duration_ms,track_genre\r\n"
        's1,"Hello, ""World""","a\nb",1000,pop\r\n'
        's2,,"",  200 ,rock\r\n'
        "s3,short\r\n"
        "s4,long,x,1,jazz,extra\r\n"
        '"s5","é日 ""q""",c,3,"multi\r\nline"'
    )
    path = tmp_path / "songs.csv"
    path.write_bytes(text.encode())
    columns = ["track_id", "track_name", "artists", "duration_ms", "track_genre"]
    rows = spark_io.read_files(spark, [entry(path, "songs/s.csv", columns)], "songs", local_copy)
    ours = sorted(tuple(r[c] for c in columns) for r in rows.collect())
    theirs = (
        spark.read.option("header", True)
        .option("multiLine", True)
        .option("escape", '"')
        .option("mode", "PERMISSIVE")
        .csv(str(path))
        .toDF(*columns)
        .collect()
    )
    assert ours == sorted(tuple(r) for r in theirs)
    assert {r["source_key"] for r in rows.collect()} == {"songs/s.csv"}


def test_every_row_is_found_back_to_its_file_and_version(spark, tmp_path):
    keys = ["streams/plain.csv", "streams/question?.csv", "streams/ümlaut-日本.csv", "s/[x].csv"]
    files = []
    for index, key in enumerate(keys):
        header = COLUMNS if index % 2 == 0 else list(reversed(COLUMNS))  # two headers
        path = tmp_path / f"copy-{index}.csv"
        body = [[f"u{index}", f"t{n}", f"2024-06-01 10:00:0{n}"] for n in range(index + 1)]
        path.write_bytes(
            csv_bytes([header, *[r if index % 2 == 0 else r[::-1] for r in body]], "\n")
        )
        files.append(entry(path, key, header, index))
    rows = spark_io.read_files(spark, files, "streams", local_copy).collect()
    assert sorted((r["source_key"], r["source_version"], r["user_id"]) for r in rows) == sorted(
        (key, f"v{i}", f"u{i}") for i, key in enumerate(keys) for _ in range(i + 1)
    )
    assert {r["track_id"] for r in rows if r["user_id"] == "u3"} == {"t0", "t1", "t2", "t3"}


def test_a_copy_whose_bytes_changed_fails_the_read_naming_it(spark, tmp_path):
    path = tmp_path / "copy.csv"
    path.write_bytes(b"user_id,track_id,listen_time\nu1,t1,2024-06-01 10:00:00\n")
    changed = entry(path, "streams/a.csv", COLUMNS)
    changed["crc32"] ^= 1
    with pytest.raises(Exception, match="copy.csv"):
        spark_io.read_files(spark, [changed], "streams", local_copy).collect()


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 10 * spark_io.TASK_BYTES), min_size=1, max_size=40),
    parallelism=st.integers(1, 8),
)
def test_files_are_spread_over_tasks_each_once_and_by_size(sizes, parallelism):
    files = [(i, {"bytes": size}) for i, size in enumerate(sizes)]
    tasks = spark_io.task_files(files, spark_io.task_count(files, parallelism))
    assert sorted(i for task in tasks for i, _ in task) == list(range(len(sizes)))
    assert len(tasks) <= len(sizes) and all(tasks)
    if len(sizes) >= 2 * parallelism:
        assert len(tasks) >= min(2 * parallelism, sum(1 for s in sizes if s) or 1)
    loads = sorted(sum(e["bytes"] for _, e in task) for task in tasks)
    assert loads[-1] - loads[0] <= max(sizes)  # greedy by size: within one file of each other


def test_small_files_share_a_task_and_a_large_batch_gets_a_task_per_128_mib():
    small = [(i, {"bytes": 1000}) for i in range(100)]
    assert spark_io.task_count(small, 2) == 4
    large = [(i, {"bytes": spark_io.TASK_BYTES}) for i in range(10)]
    assert spark_io.task_count(large, 2) == 10
    assert spark_io.task_count(large[:3], 2) == 3
