"""Glue Spark job ``music_streaming_etl_complete`` (arguments: ``job_args.EtlArgs``).

- full_etl: reads the versions the batch validated (their verified copies, each file's header
  matched by name), keeps songs/users as reference rows, writes the batch's streams joined with the
  reference as Parquet to processed_data/date={processing_date}/batch_id={batch_id}/ partitioned
  by genre (a rerun replaces it), registers what it wrote as partitions of the Data Catalog's
  tables (with --catalog_database), marks the files PROCESSED in the file ledger, then recomputes the
  KPIs of every day the batch touches over the rows that count (of each key, its newest processed
  upload: a correction replaces the rows of the version it supersedes) and stores them, with a
  snapshot version, under kpis/batch_id={batch_id}/.
- dynamodb_only: writes that snapshot to DynamoDB, monotonically (kpi_snapshot), then marks the
  batch's files KPIS_WRITTEN.
- archiving_only: for each file whose KPIs are written, verifies its archived copy, marks it
  ARCHIVED and only then deletes that version from raw (a crash in between is repaired by a rerun).

S3 access settings (endpoint, credentials) come from outside the script, as in Glue.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime, timezone

from music_streaming import (
    aws,
    catalog,
    config,
    datasets,
    dynamo_items,
    etl_decisions,
    kpi_snapshot,
    layout,
)
from music_streaming import ledger as file_ledger
from music_streaming.job_args import EtlArgs

log = logging.getLogger("music_streaming_etl")


def start_spark(args: EtlArgs):
    """(SparkSession, Glue Job or None): GlueContext/Job only where Glue's libraries work."""
    from pyspark.sql import SparkSession

    try:
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from pyspark.context import SparkContext

        glue_context = GlueContext(SparkContext.getOrCreate())
        job = Job(glue_context)
        job.init(args.JOB_NAME, {k.lstrip("-"): v for k, v in args.arguments().items()})
        spark = glue_context.spark_session
    except Exception as exc:  # noqa: BLE001 - plain Spark outside Glue
        log.info("running without GlueContext (%s)", type(exc).__name__)
        # named from outside, as Glue names its runs (the local Glue API: the run id)
        spark, job = SparkSession.builder.getOrCreate(), None
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in config.SPARK_CONF.items():
        if key.startswith("spark.hadoop."):
            hadoop.set(key[len("spark.hadoop.") :], value)
        else:
            spark.conf.set(key, value)
    return spark, job


@contextmanager
def timed(step_seconds: dict, step: str):
    """Records how long a step took (read by the stack benchmark)."""
    started = time.monotonic()
    yield
    step_seconds[step] = round(time.monotonic() - started, 2)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def ledger_of(args: EtlArgs) -> file_ledger.Ledger:
    return file_ledger.Ledger(
        aws.resource("dynamodb", args.aws_region).Table(
            config.file_tracker_table(args.dynamodb_table_name)
        )
    )


# ---------------------------------------------------------------------------------- full_etl
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
                # the object a row came from, as bucket/key (Spark reports it URL-encoded)
                F.regexp_replace(F.expr("url_decode(input_file_name())"), "^s3a?://", "").alias(
                    "_path"
                ),
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


def store_reference(spark, args: EtlArgs, dataset: str, files: list[dict]) -> tuple[str, dict]:
    """Writes this batch's rows of songs/users (with their source): (the batch path, rows per
    file)."""
    from music_streaming import kpis

    rows = (
        kpis.REFERENCE[dataset]
        .rows(read_files(spark, files, dataset, multiline=True), keep=kpis.SOURCE_COLUMNS)
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


def write_batch_streams(spark, batch_path: str, files: list[dict], songs, users) -> tuple:
    """The batch's streams joined with the reference, as Parquet partitioned by genre under
    ``batch_path`` (a rerun replaces it); (per-file counts, per-file days with valid rows)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from music_streaming import kpis

    raw = read_files(spark, files, datasets.STREAMS, multiline=False)
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


def full_etl(spark, s3, args: EtlArgs) -> dict:
    report = aws.read_json(s3, args.processed_bucket, layout.validation_report_key(args.batch_id))
    valid = [f for f in report["files"] if f["status"] == "valid"]
    if not valid:
        raise RuntimeError(f"batch {args.batch_id} has no valid file: {report['summary']}")
    if report["invalid_files"]:  # quarantined by validation; the valid files go on
        log.warning("batch %s: skipping invalid files %s", args.batch_id, report["invalid_files"])
    by_dataset = defaultdict(list)
    for entry in valid:
        by_dataset[entry["dataset"]].append(entry)
    ledger, steps, files = ledger_of(args), {}, {}

    def mark_processed(entries, index: dict):
        """PROCESSED, with what the index records of each file (by file id)."""
        for entry in entries:
            ledger.move(
                entry["file_id"], file_ledger.PROCESSED, args.batch_id, **index[entry["file_id"]]
            )

    def current_reference(counted: dict) -> dict:
        return {
            dataset: load_reference(spark, s3, args.processed_bucket, dataset, counted).cache()
            for dataset in datasets.REFERENCE_DATASETS
        }

    with timed(steps, "reference"):
        for dataset in datasets.REFERENCE_DATASETS:
            if by_dataset[dataset]:
                path, per_file = store_reference(spark, args, dataset, by_dataset[dataset])
                files.update(per_file)
                register_partitions(args, s3, dataset, path)
                # the reference index (etl_decisions): the batch path holding these rows
                mark_processed(
                    by_dataset[dataset],
                    {e["file_id"]: {etl_decisions.PROCESSED_TO: path} for e in by_dataset[dataset]},
                )
        # the reference the batch's rows are written with (genre partition, names); the KPIs
        # re-read it after the snapshot instant
        reference = current_reference(ledger.counted_versions(args.raw_data_bucket))
    touched: set = set()  # ISO dates
    with timed(steps, "batch_streams"):
        if by_dataset[datasets.STREAMS]:
            batch_path = layout.s3_url(
                args.processed_bucket,
                layout.processed_batch_prefix(args.processing_date, args.batch_id),
            )
            per_file, file_days = write_batch_streams(
                spark,
                batch_path,
                by_dataset[datasets.STREAMS],
                reference[datasets.SONGS],
                reference[datasets.USERS],
            )
            files.update(per_file)
            register_partitions(args, s3, datasets.STREAMS, batch_path)
            # the listen-date index (etl_decisions): where this file's rows lie, and on which days
            mark_processed(
                by_dataset[datasets.STREAMS],
                {
                    file_id: {
                        etl_decisions.LISTEN_DATES: sorted(days),
                        etl_decisions.PROCESSED_TO: batch_path,
                    }
                    for file_id, days in file_days.items()
                },
            )
            touched = set().union(*file_days.values())
    # Everything this batch contributes is committed (Parquet + PROCESSED): a snapshot versioned
    # after this instant, by any run, includes it; and what this one reads from now on includes
    # every batch committed before it (its rows and its reference).
    snapshot_version = int(time.time() * 1000)
    processed = ledger.processed_items(args.raw_data_bucket)
    current = file_ledger.counted_versions(processed)
    # one current reference for both steps below (computed once, when first used)
    reference = current_reference(current)
    with timed(steps, "days_touched"):
        touched |= days_to_recompute(spark, s3, args, by_dataset, processed, reference)
    with timed(steps, "kpis"):
        rows = day_kpis(
            spark,
            args.processed_bucket,
            touched,
            current,
            reference[datasets.SONGS],
            reference[datasets.USERS],
        )
    days = sorted(touched)
    aws.write_json(
        s3,
        args.processed_bucket,
        layout.kpi_results_key(args.batch_id),
        {
            "batch_id": args.batch_id,
            "snapshot_version": snapshot_version,
            "touched_days": days,
            **rows,
        },
    )
    summary = {
        "batch_id": args.batch_id,
        "processing_date": args.processing_date,
        "task_type": args.task_type,
        "files": files,
        "touched_days": days,
        "snapshot_version": snapshot_version,
        "step_seconds": steps,
        "metrics": etl_decisions.etl_metrics(files, rows["stream_quality"]),
    }
    aws.write_json(s3, args.processed_bucket, layout.etl_summary_key(args.batch_id), summary)
    return summary


# ----------------------------------------------------------------------------- dynamodb_only
def dynamodb_only(_spark, s3, args: EtlArgs) -> dict:
    etl = aws.read_json(s3, args.processed_bucket, layout.etl_summary_key(args.batch_id))
    results = aws.read_json(s3, args.processed_bucket, layout.kpi_results_key(args.batch_id))
    items = dynamo_items.snapshot_items(results)
    writer = kpi_snapshot.SnapshotWriter(
        aws.client("dynamodb", args.aws_region), args.dynamodb_table_name, config.KPI_DATE_INDEX
    )
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcome = writer.write(
            items, results["touched_days"], int(results["snapshot_version"]), executor=pool
        )
    superseded = sorted(
        d for d, (state, _removed) in outcome.items() if state == kpi_snapshot.SUPERSEDED
    )
    removed = sum(n for _state, n in outcome.values())
    log.info(
        "snapshot %s: %d KPI items for %d day(s), %d stale removed; days a newer snapshot "
        "already holds: %s",
        results["snapshot_version"],
        len(items),
        len(outcome),
        removed,
        superseded or "none",
    )
    ledger = ledger_of(args)
    for file_id, info in sorted(etl["files"].items()):
        ledger.move(
            file_id,
            file_ledger.KPIS_WRITTEN,
            args.batch_id,
            row_count=info["rows"],
            rejected_rows=info["rejected_rows"],
            kpis_written_at=now_iso(),
        )
    return {
        "metrics": {"DynamoDBWrites": len(items) + len(etl["files"])},
        "superseded_days": superseded,
    }


# ---------------------------------------------------------------------------- archiving_only
def archive_file(s3, ledger, args: EtlArgs, file_id: str) -> None:
    """KPIS_WRITTEN -> copy verified -> ARCHIVED -> raw version deleted (each step repeatable)."""
    item = ledger.get(file_id)
    if etl_decisions.archive_step(item, args.batch_id, file_id) == etl_decisions.VERIFY_AND_ARCHIVE:
        bucket, key = layout.split_s3_url(item["archive_copy"])
        aws.verify_copy(s3, bucket, key, int(item["size"]), int(item["crc32"]))
        ledger.move(
            file_id,
            file_ledger.ARCHIVED,
            args.batch_id,
            archived_to=item["archive_copy"],
            archived_at=now_iso(),
        )
    aws.delete_version(s3, aws.version_source(item["bucket"], item["key"], item["version_id"]))


def archiving_only(_spark, s3, args: EtlArgs) -> dict:
    if not args.archive_bucket:
        raise ValueError("archiving_only needs --archive_bucket")
    etl = aws.read_json(s3, args.processed_bucket, layout.etl_summary_key(args.batch_id))
    ledger, archived, failed = ledger_of(args), 0, []
    for file_id in sorted(etl["files"]):
        try:
            archive_file(s3, ledger, args, file_id)
            archived += 1
        except Exception as exc:  # noqa: BLE001 - every file is tried, failures reported at the end
            log.error("could not archive %s: %s", file_id, exc)
            failed.append({"file": file_id, "error": str(exc)})
    summary = {
        "metrics": {"ArchivedFiles": archived, "FailedFiles": len(failed)},
        "failed_files": failed,
    }
    if failed:
        raise ArchivingFailed(summary)
    return summary


class ArchivingFailed(RuntimeError):
    def __init__(self, summary: dict):
        super().__init__(
            f"{len(summary['failed_files'])} file(s) could not be archived: "
            f"{summary['failed_files']}"
        )
        self.summary = summary


TASKS = {"full_etl": full_etl, "dynamodb_only": dynamodb_only, "archiving_only": archiving_only}


def run(argv: list[str]) -> int:
    args = EtlArgs.from_argv(argv)
    s3 = aws.client("s3", args.aws_region)
    cloudwatch = aws.client("cloudwatch", args.aws_region)
    # Only full_etl computes with Spark; loading and archiving are plain boto3 work.
    spark, job = start_spark(args) if args.task_type == "full_etl" else (None, None)
    started = time.monotonic()
    try:
        result = TASKS[args.task_type](spark, s3, args)
    except Exception as exc:
        failed = exc.summary["metrics"] if isinstance(exc, ArchivingFailed) else {}
        aws.put_metrics(
            cloudwatch, "ETL/Metrics", {**failed, "JobFailures": 1}, {"TaskType": args.task_type}
        )
        log.exception("%s of batch %s failed", args.task_type, args.batch_id)
        raise
    aws.put_metrics(
        cloudwatch,
        "ETL/Metrics",
        {**result["metrics"], "JobFailures": 0},
        {"TaskType": args.task_type},
    )
    log.info(
        "%s of batch %s done in %.1f s: %s",
        args.task_type,
        args.batch_id,
        time.monotonic() - started,
        json.dumps(result["metrics"]),
    )
    if job is not None:
        job.commit()
    elif spark is not None:
        spark.stop()  # its event log complete before the run ends (Glue ends its own session)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.exit(run(sys.argv))
