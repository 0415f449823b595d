"""Reading a batch's archived copies with Spark (pyspark imported by the functions only, so the
module loads where Spark is absent).

Each copy is read by the VersionId validation verified (``copy_version``), not by its key: a write
over the key later adds a version and changes nothing the ETL reads. Neither S3A nor Glue's S3
file system can name a version, so the executors fetch the bytes (files packed into tasks by
size), split them into records by the rules the file was validated by
(``validation.data_records``, which also checks size and CRC32), and Spark's own CSV parser makes
the rows, as it did reading by key.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache, partial
from typing import Callable, Iterable, Iterator

from music_streaming import aws, datasets, layout, validation

CHUNK_BYTES = 8 * 1024 * 1024
# A task reads files up to about this many bytes (Spark's spark.sql.files.maxPartitionBytes).
TASK_BYTES = 128 * 1024 * 1024
# The column that carries a record's file (its index in the batch) through Spark's parser.
FILE_INDEX = "_file"

Fetch = Callable[[dict], Iterable[bytes]]


@cache
def _s3(region: str):
    """One client per executor process (Spark reuses its Python workers)."""
    return aws.client("s3", region)


def copy_chunks(region: str, entry: dict) -> Iterator[bytes]:
    """The bytes of a report entry's verified copy: that version (``copy_version``), streamed."""
    bucket, key = layout.split_s3_url(entry["copy"])
    body = _s3(region).get_object(
        Bucket=bucket, Key=key, **aws.version_args(entry.get("copy_version"))
    )["Body"]
    with body:  # (entering a StreamingBody gives its raw stream, hence not ``as``)
        yield from body.iter_chunks(CHUNK_BYTES)


def version_reader(region: str) -> Fetch:
    """``fetch`` for ``read_files``: each copy from S3 by its version."""
    return partial(copy_chunks, region)


def task_files(files: list[tuple[int, dict]], tasks: int) -> list[list[tuple[int, dict]]]:
    """The files spread over ``tasks`` tasks by size, largest first to the least loaded (as
    Spark packs small files into one partition: a task per file would cost a Python worker
    round trip each)."""
    loads = [(0, task) for task in range(tasks)]
    spread: list[list[tuple[int, dict]]] = [[] for _ in range(tasks)]
    for indexed in sorted(files, key=lambda f: (-int(f[1]["bytes"]), f[0])):
        load, task = min(loads)
        loads[task] = (load + int(indexed[1]["bytes"]), task)
        spread[task].append(indexed)
    return [task for task in spread if task]


def task_count(files: list[tuple[int, dict]], parallelism: int) -> int:
    """Two tasks per core (Spark's tuning advice; one each measured 1.25x slower on 4 files of
    61 MB), more when that leaves a task over TASK_BYTES, never more than files."""
    total = sum(int(entry["bytes"]) for _, entry in files)
    return max(1, min(len(files), max(2 * parallelism, -(-total // TASK_BYTES))))


def file_records(fetch: Fetch, indexed: tuple[int, dict]) -> Iterator[str]:
    """A file's data records as CSV text, each led by the file's index. A CRLF inside a quoted
    value becomes LF, as Spark's multiLine reader gives it (the only line break a record keeps
    is inside quotes: the validator refuses a bare CR elsewhere)."""
    index, entry = indexed
    try:
        for record in validation.data_records(
            fetch(entry), int(entry["bytes"]), int(entry["crc32"])
        ):
            record = record.replace("\r\n", "\n")
            yield f"{index},{record}"
    except Exception as exc:
        version = entry.get("copy_version") or "current"
        raise RuntimeError(f"reading {entry['copy']} (version {version}): {exc}") from exc


def task_records(fetch: Fetch, files: list[tuple[int, dict]]) -> Iterator[str]:
    """The records of one task's files, one file after the other."""
    for indexed in files:
        yield from file_records(fetch, indexed)


def read_files(spark, files: list[dict], dataset: str, fetch: Fetch):
    """The files' rows with the dataset's columns, each file read with its own header (files
    with the same header share one read), plus source_key, source_version, upload_order.
    ``fetch(entry)``: the bytes of a file's verified copy (``version_reader`` in a job)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    by_header = defaultdict(list)
    for index, entry in enumerate(files):
        by_header[tuple(entry["columns"])].append((index, entry))
    frames = []
    for header, group in sorted(by_header.items()):
        tasks = task_files(group, task_count(group, spark.sparkContext.defaultParallelism))
        records = spark.sparkContext.parallelize(tasks, len(tasks)).flatMap(
            partial(task_records, fetch)
        )
        schema = StructType([StructField(c, StringType()) for c in (FILE_INDEX, *header)])
        frame = (
            spark.read.schema(schema)
            .option("escape", '"')
            .option("mode", "PERMISSIVE")
            .csv(records)
        )
        frames.append(
            frame.select(
                *[
                    F.col(c) if c in header else F.lit(None).cast("string").alias(c)
                    for c in datasets.SPECS[dataset].read
                ],
                FILE_INDEX,
            )
        )
    rows = frames[0]
    for frame in frames[1:]:
        rows = rows.unionByName(frame)
    sources = spark.createDataFrame(
        [(str(i), e["key"], e["version_id"], e["upload_order"]) for i, e in enumerate(files)],
        f"{FILE_INDEX} string, source_key string, source_version string, upload_order string",
    )
    return rows.join(F.broadcast(sources), FILE_INDEX, "left").drop(FILE_INDEX)
