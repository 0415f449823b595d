"""Reading a batch's archived copies with Spark (pyspark imported by the functions only, so the
module loads where Spark is absent).

Each copy is named by ``layout.archive_key``: nothing in the name is a pattern or a path step for
Hadoop, so a file is read by its literal name, and a row's source file is found by comparing the
name Spark reports with the copy's, never by decoding it back into the raw key.
"""

from __future__ import annotations

from collections import defaultdict

from music_streaming import datasets


def read_files(spark, files: list[dict], dataset: str, multiline: bool):
    """The files' rows with the dataset's columns, each file read with its own header (files
    with the same header share one read), plus source_key, source_version, upload_order."""
    from pyspark.sql import functions as F

    by_header = defaultdict(list)
    for entry in files:
        by_header[tuple(entry["columns"])].append(entry)
    frames = []
    for header, group in sorted(by_header.items()):
        frame = (
            spark.read.option("header", True)
            .option("escape", '"')
            .option("multiLine", multiline)
            .option("mode", "PERMISSIVE")
            .csv([e["copy"] for e in group])
        )
        frame = frame.toDF(*header)  # names from this header (BOM and padding removed)
        frames.append(
            frame.select(
                *[
                    F.col(c) if c in header else F.lit(None).cast("string").alias(c)
                    for c in datasets.SPECS[dataset].read
                ],
                # the copy a row came from: its name has no character a URI encodes
                # (layout.archive_key), so it is compared as it is, never decoded
                F.regexp_replace(F.input_file_name(), "^s3a?://", "").alias("_path"),
            )
        )
    rows = frames[0]
    for frame in frames[1:]:
        rows = rows.unionByName(frame)
    sources = spark.createDataFrame(
        [
            (e["copy"].removeprefix("s3://"), e["key"], e["version_id"], e["upload_order"])
            for e in files
        ],
        "_path string, source_key string, source_version string, upload_order string",
    )
    return rows.join(F.broadcast(sources), "_path", "left").drop("_path")
