"""The Spark steps of ``full_etl`` (music_streaming_etl_complete): the batch's reference and stream
rows written to the processed bucket and registered in the Data Catalog, the days a batch changes,
and those days' KPIs over the rows that count. pyspark is imported inside the functions.
"""

from __future__ import annotations

from datetime import date

from music_streaming import aws, catalog, datasets, dynamo_items, etl_decisions, layout, spark_io
from music_streaming.job_args import EtlArgs


def store_reference(
    spark, args: EtlArgs, dataset: str, files: list[dict], fetch: spark_io.Fetch
) -> tuple[str, dict]:
    """Writes this batch's rows of songs/users (with their source): (the batch path, rows per
    file)."""
    from music_streaming import kpis

    rows = (
        kpis.REFERENCE[dataset]
        .rows(spark_io.read_files(spark, files, dataset, fetch), keep=kpis.SOURCE_COLUMNS)
        .cache()
    )
    counts = {
        r["source_key"] + "#" + r["source_version"]: r["count"]
        for r in rows.groupBy("source_key", "source_version").count().collect()
    }
    path = layout.s3_url(
        args.processed_bucket, layout.reference_batch_prefix(dataset, args.batch_id)
    )
    rows.coalesce(1).write.mode("overwrite").parquet(path)
    rows.unpersist()
    return path, {
        e["file_id"]: {
            "dataset": dataset,
            "rows": counts.get(e["key"] + "#" + e["version_id"], 0),
            "rejected_rows": 0,
        }
        for e in files
    }


def register_partitions(args: EtlArgs, s3, table: str, path: str) -> int:
    """Adds to the Data Catalog the partitions of what the batch wrote under ``path`` (before the
    files count as PROCESSED, so a crash in between is mended by the rerun); none without a
    catalog database. The number newly added."""
    if not args.catalog_database:
        return 0
    bucket, prefix = layout.split_s3_url(path)
    inputs = [
        catalog.partition_input(table, bucket, p)
        for p in catalog.partition_prefixes(table, aws.list_keys(s3, bucket, [prefix]))
    ]
    glue = aws.client("glue", args.aws_region)
    return aws.add_partitions(glue, args.catalog_database, table, inputs)


def counted_sources(spark, counted: dict):
    """(source_key, source_version) of the versions whose rows count, as a small DataFrame."""
    return spark.createDataFrame(
        [(k, i["version_id"]) for k, i in sorted(counted.items())],
        "source_key string, source_version string",
    )


def load_reference(spark, s3, processed: str, dataset: str, counted: dict):
    """The current reference of ``dataset`` (one row per id) from the versions in ``counted``
    (ledger items by key), reading only the batch paths that hold them (the reference index);
    versions processed before it make the job read all of the dataset's reference rows."""
    from pyspark.sql import functions as F

    from music_streaming import kpis

    versions = etl_decisions.of_dataset(counted.values(), dataset)
    prefix = layout.reference_prefix(dataset)
    paths = etl_decisions.reference_paths(versions)
    if not versions or (paths is None and not aws.prefix_exists(s3, processed, prefix)):
        return spark.createDataFrame([], kpis.REFERENCE[dataset].empty_schema)
    root = layout.s3_url(processed, prefix)
    rows = spark.read.option("basePath", root).parquet(*(paths or [root])).drop("batch_id")
    current = rows.join(
        F.broadcast(counted_sources(spark, {i["key"]: i for i in versions})),
        ["source_key", "source_version"],
        "left_semi",
    )
    return kpis.current_reference(current, datasets.SPECS[dataset].key)


def write_batch_streams(
    spark, batch_path: str, files: list[dict], fetch: spark_io.Fetch, songs, users
) -> tuple:
    """The batch's streams joined with the reference, as Parquet partitioned by genre under
    ``batch_path`` (a rerun replaces it); (per-file counts, per-file days with valid rows)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from music_streaming import kpis

    raw = spark_io.read_files(spark, files, datasets.STREAMS, fetch)
    typed = kpis.typed_streams(raw, keep=kpis.SOURCE_COLUMNS).persist(StorageLevel.MEMORY_AND_DISK)
    # One pass gives both the per-file counts and the days the batch touches.
    counts = (
        typed.groupBy("source_key", "source_version", "listen_date")
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(F.when(kpis.is_valid_stream(), 0).otherwise(1)).alias("rejected"),
        )
        .collect()
    )
    ids = {(e["key"], e["version_id"]): e["file_id"] for e in files}
    per_file = {
        e["file_id"]: {"dataset": datasets.STREAMS, "rows": 0, "rejected_rows": 0} for e in files
    }
    days: dict = {e["file_id"]: set() for e in files}
    for row in counts:
        file_id = ids[(row["source_key"], row["source_version"])]
        per_file[file_id]["rows"] += row["rows"]
        per_file[file_id]["rejected_rows"] += row["rejected"]
        if row["listen_date"] is not None and row["rows"] > row["rejected"]:
            days[file_id].add(row["listen_date"].isoformat())
    valid, _rejected = kpis.split_streams(typed)
    # Every valid row is kept with its source (events are de-duplicated when KPIs are
    # computed), so a later correction of one file removes exactly that file's rows.
    (
        kpis.enrich_streams(valid, songs, users)
        .repartition("genre")
        .write.mode("overwrite")
        .partitionBy("genre")
        .parquet(batch_path)
    )
    typed.unpersist()
    return per_file, days


def processed_streams(spark, processed: str, paths: list[str] | None = None):
    """Processed streams under ``paths`` (batch paths), or all of them."""
    root = layout.s3_url(processed, layout.PROCESSED_DATA_PREFIX)
    return spark.read.option("basePath", root).parquet(*(paths if paths is not None else [root]))


def days_naming(spark, s3, processed: str, column: str, ids) -> set:
    """Days whose processed streams name any of ``ids`` (a one-column DataFrame)."""
    if not aws.prefix_exists(s3, processed, layout.PROCESSED_DATA_PREFIX):
        return set()
    streams = processed_streams(spark, processed)
    return {
        r["listen_date"].isoformat()
        for r in streams.join(ids, column, "left_semi").select("listen_date").distinct().collect()
    }


def reference_days(spark, s3, processed: str, dataset: str, before: dict, current) -> set:
    """Days a songs/users upload changes: those naming an id whose KPI inputs differ between the
    reference without this batch (``before``, counted versions) and with it (``current``, the
    loaded reference); none, and no scan, when the upload changes nothing the KPIs read
    (``kpis.changed_ids``)."""
    from music_streaming import kpis

    changed = kpis.changed_ids(
        load_reference(spark, s3, processed, dataset, before), current, dataset
    ).cache()
    try:
        if changed.isEmpty():
            return set()
        return days_naming(spark, s3, processed, datasets.SPECS[dataset].key, changed)
    finally:
        changed.unpersist()


def scan_corrected_days(spark, s3, processed: str, keys: list[str]) -> set:
    """Days holding rows of any version of these stream keys, by reading all processed streams
    (versions processed before the listen-date index)."""
    from pyspark.sql import functions as F

    if not aws.prefix_exists(s3, processed, layout.PROCESSED_DATA_PREFIX):
        return set()
    return {
        r["listen_date"].isoformat()
        for r in processed_streams(spark, processed)
        .filter(F.col("source_key").isin(keys))
        .select("listen_date")
        .distinct()
        .collect()
    }


def day_kpis(spark, processed: str, days: set, current: dict, songs, users) -> dict:
    """KPI rows of the days over the rows that count (newest processed upload of each key, the
    ledger items ``current``), read from the batch paths that hold those days."""
    from pyspark.sql import functions as F

    from music_streaming import kpis

    if not days:
        return {name: [] for name in dynamo_items.KPI_RESULTS}
    paths = etl_decisions.paths_holding(current.values(), days)
    if paths == []:  # no row that counts falls on these days: their KPIs are empty
        return {name: [] for name in dynamo_items.KPI_RESULTS}
    day_streams = (
        processed_streams(spark, processed, paths)
        .filter(F.col("listen_date").isin([date.fromisoformat(d) for d in sorted(days)]))
        .join(
            F.broadcast(counted_sources(spark, current)),
            ["source_key", "source_version"],
            "left_semi",
        )
        .select(*kpis.STREAM_KEY, "listen_date")
    )
    # KPI rows are few (days x genres): one JSON document, loaded without Spark later.
    return kpis.collect_daily_kpis(day_streams, songs, users)


def days_to_recompute(
    spark, s3, args: EtlArgs, by_dataset: dict, processed: list[dict], reference: dict
) -> set:
    """Days other than the batch's own whose KPIs this batch changes: those of earlier versions
    of its stream keys (a correction), and those whose streams name the ids its songs/users
    upload changes (ISO dates; ``reference``: the current songs and users by dataset). A
    correction's days come from the listen-date index; a scan of history runs only for a
    reference upload over processed streams, or for versions processed before the index."""
    stream_keys = [e["key"] for e in by_dataset[datasets.STREAMS]]
    corrected = etl_decisions.corrected_keys(args.batch_id, processed, stream_keys)
    days = etl_decisions.corrected_days(processed, corrected) if corrected else set()
    if days is None:
        days = scan_corrected_days(spark, s3, args.processed_bucket, corrected)
    if etl_decisions.reference_update_needs_scan(args.batch_id, processed):
        before = etl_decisions.counted_before(args.batch_id, processed)
        for dataset in datasets.REFERENCE_DATASETS:
            if by_dataset[dataset]:
                days |= reference_days(
                    spark, s3, args.processed_bucket, dataset, before, reference[dataset]
                )
    return days
