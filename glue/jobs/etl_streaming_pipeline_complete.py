"""Glue Spark job ``music_streaming_etl_complete``.

Arguments (``--key value``): JOB_NAME, batch_id, processing_date (YYYY-MM-DD), raw_data_bucket,
processed_bucket, dynamodb_table_name, [task_type=full_etl|dynamodb_only|archiving_only],
[archive_bucket], [aws_region=us-east-1].

- full_etl: reads the batch's valid files (from its validation report), keeps songs/users as
  reference versions, writes the batch's streams joined with the reference as Parquet to
  processed_data/date={processing_date}/batch_id={batch_id}/ partitioned by genre (a rerun replaces
  it), then recomputes the KPIs of every day the batch touches over all processed streams of that
  day and stores them under kpis/batch_id={batch_id}/.
- dynamodb_only: writes those KPIs to DynamoDB (deterministic keys; items of the recomputed days
  that no longer exist are removed) and records the batch's files in the file tracker.
- archiving_only: copies each raw file whose KPIs are written to the archive bucket, verifies the
  copy, deletes the raw file, and marks it archived.

S3 access settings (endpoint, credentials) come from outside the script, as in Glue.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timezone
from urllib.parse import unquote

from music_streaming import aws, config, datasets, dynamo_items, job_args, layout

log = logging.getLogger("music_streaming_etl")
REQUIRED = ["JOB_NAME", "batch_id", "processing_date", "raw_data_bucket", "processed_bucket",
            "dynamodb_table_name"]
OPTIONAL = {"task_type": "full_etl", "archive_bucket": "", "aws_region": "us-east-1"}
TASK_TYPES = ("full_etl", "dynamodb_only", "archiving_only")
KPI_NAMES = ("genre_daily", "top_songs", "top_genres", "stream_quality")
KPIS_WRITTEN, ARCHIVED = "KPIS_WRITTEN", "ARCHIVED"


def start_spark(job_name: str, args: dict):
    """(SparkSession, Glue Job or None): GlueContext/Job only where Glue's libraries work."""
    from pyspark.sql import SparkSession
    try:
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from pyspark.context import SparkContext
        glue_context = GlueContext(SparkContext.getOrCreate())
        job = Job(glue_context)
        job.init(job_name, args)
        spark = glue_context.spark_session
    except Exception as exc:  # noqa: BLE001 - plain Spark outside Glue
        log.info("running without GlueContext (%s)", type(exc).__name__)
        spark, job = SparkSession.builder.appName(job_name).getOrCreate(), None
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in config.SPARK_CONF.items():
        if key.startswith("spark.hadoop."):
            hadoop.set(key[len("spark.hadoop."):], value)
        else:
            spark.conf.set(key, value)
    return spark, job


@contextmanager
def timed(summary: dict, step: str):
    """Records how long a step took in the summary (read by the stack benchmark)."""
    started = time.monotonic()
    yield
    summary.setdefault("step_seconds", {})[step] = round(time.monotonic() - started, 2)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


# ---------------------------------------------------------------------------------- full_etl
def read_csv(spark, paths: list[str], multiline: bool):
    from pyspark.sql import functions as F

    df = (spark.read.option("header", True).option("escape", '"').option("multiLine", multiline)
          .option("mode", "PERMISSIVE").csv(paths))
    # a UTF-8 BOM or padding in the header must not rename a column
    df = df.toDF(*[c.replace("\ufeff", "").strip() for c in df.columns])
    return df.withColumn("_source_file", F.input_file_name())


def key_of(path: str, bucket: str) -> str:
    """Raw object key of a path that Spark reports (``s3://bucket/streams/a.csv``)."""
    return unquote(path.split(f"{bucket}/", 1)[-1])


def rows_per_file(df, bucket: str) -> dict[str, int]:
    return {key_of(r["_source_file"], bucket): r["count"]
            for r in df.groupBy("_source_file").count().collect()}


def store_reference(spark, args, dataset: str, files: list[str], ingested_at: int,
                    summary: dict):
    """Writes this batch's version of songs/users; returns the batch's dimension (or None)."""
    from pyspark.sql import functions as F

    from music_streaming import kpis

    raw_bucket, processed = args["raw_data_bucket"], args["processed_bucket"]
    raw = read_csv(spark, [layout.s3_url(raw_bucket, k) for k in files], multiline=True).cache()
    summary["files"].update({k: {"dataset": dataset, "rows": n, "rejected_rows": 0}
                             for k, n in rows_per_file(raw, raw_bucket).items()})
    build = kpis.song_dimension if dataset == datasets.SONGS else kpis.user_dimension
    dimension = build(raw)
    (dimension.withColumn("batch_id", F.lit(args["batch_id"]))
     .withColumn("ingested_at", F.lit(ingested_at))
     .coalesce(1).write.mode("overwrite")
     .parquet(layout.s3_url(processed, layout.reference_batch_prefix(dataset, args["batch_id"]))))
    raw.unpersist()
    return dimension


def load_reference(spark, s3, processed: str, dataset: str):
    from music_streaming import kpis

    prefix = layout.reference_prefix(dataset)
    if not aws.prefix_exists(s3, processed, prefix):
        schema = ("track_id string, genre string, track_name string, artists string, "
                  "duration_ms long" if dataset == datasets.SONGS else
                  "user_id string, user_name string, user_age int, user_country string")
        return spark.createDataFrame([], schema)
    versions = spark.read.parquet(layout.s3_url(processed, prefix))
    return kpis.latest_reference(versions, "track_id" if dataset == datasets.SONGS else "user_id")


def write_batch_streams(spark, args: dict, keys: list[str], songs, users, touched_days: set,
                        summary: dict) -> None:
    """The batch's streams, joined with the reference, as Parquet partitioned by genre."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from music_streaming import kpis

    if not keys:
        return
    raw_bucket, processed, batch_id = (args["raw_data_bucket"], args["processed_bucket"],
                                       args["batch_id"])
    raw = read_csv(spark, [layout.s3_url(raw_bucket, k) for k in keys], multiline=False)
    typed = kpis.typed_streams(raw, keep=["_source_file"]).persist(StorageLevel.MEMORY_AND_DISK)
    # One pass gives both the per-file counts and the days the batch touches.
    counts = typed.groupBy("_source_file", "listen_date").agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.when(kpis.is_valid_stream(), 0).otherwise(1)).alias("rejected")).collect()
    for row in counts:
        entry = summary["files"].setdefault(key_of(row["_source_file"], raw_bucket), {
            "dataset": datasets.STREAMS, "rows": 0, "rejected_rows": 0})
        entry["rows"] += row["rows"]
        entry["rejected_rows"] += row["rejected"]
        if row["listen_date"] is not None and row["rows"] > row["rejected"]:
            touched_days.add(row["listen_date"])
    valid, _rejected = kpis.split_streams(typed)
    batch = kpis.enrich_streams(valid.drop("_source_file").dropDuplicates(kpis.STREAM_KEY),
                                songs, users)
    # One file per genre directory: fewer, larger objects than one per task and genre.
    # Overwrite replaces this batch's output only: a rerun never appends a copy.
    (batch.repartition("genre").write.mode("overwrite").partitionBy("genre")
     .parquet(layout.s3_url(processed, layout.processed_batch_prefix(
         args["processing_date"], batch_id))))
    typed.unpersist()


def full_etl(spark, s3, args: dict, summary: dict) -> None:
    processed, batch_id = args["processed_bucket"], args["batch_id"]
    report = aws.read_json(s3, processed, layout.validation_report_key(batch_id))
    if not report["valid_files"]:
        raise RuntimeError(f"batch {batch_id} has no valid file: {report['summary']}")
    if report["invalid_files"]:  # quarantined by validation; the valid files go on
        log.warning("batch %s: skipping invalid files %s", batch_id, report["invalid_files"])
    by_dataset = defaultdict(list)
    for key in report["valid_files"]:
        by_dataset[datasets.dataset_of(key)].append(key)
    ingested_at = int(time.time() * 1000)

    with timed(summary, "reference"):
        new_reference = {d: store_reference(spark, args, d, by_dataset[d], ingested_at, summary)
                         for d in (datasets.SONGS, datasets.USERS) if by_dataset[d]}
        songs = load_reference(spark, s3, processed, datasets.SONGS).cache()
        users = load_reference(spark, s3, processed, datasets.USERS).cache()
    touched_days: set = set()
    with timed(summary, "batch_streams"):
        write_batch_streams(spark, args, by_dataset[datasets.STREAMS], songs, users,
                            touched_days, summary)
    if new_reference and aws.prefix_exists(s3, processed, layout.PROCESSED_DATA_PREFIX):
        with timed(summary, "days_of_reference"):
            touched_days |= days_naming(spark, processed, new_reference)
    summary["touched_days"] = sorted(d.isoformat() for d in touched_days)
    with timed(summary, "kpis"):
        write_day_kpis(spark, s3, args, touched_days, songs, users, summary)
    finish_summary(s3, args, summary)


def processed_streams(spark, processed: str):
    root = layout.s3_url(processed, layout.PROCESSED_DATA_PREFIX)
    return spark.read.option("basePath", root).parquet(root)


def days_naming(spark, processed: str, new_reference: dict) -> set:
    """New songs/users change the KPIs of every day whose streams name them."""
    streams = processed_streams(spark, processed)
    days: set = set()
    for dataset, dimension in new_reference.items():
        key = "track_id" if dataset == datasets.SONGS else "user_id"
        days.update(r["listen_date"] for r in streams.join(
            dimension.select(key), key, "left_semi").select("listen_date").distinct().collect())
    return days


def write_day_kpis(spark, s3, args: dict, touched_days: set, songs, users, summary: dict) -> None:
    """KPIs of the touched days over all processed streams of those days."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from music_streaming import kpis

    processed, batch_id = args["processed_bucket"], args["batch_id"]
    if touched_days:
        day_streams = (processed_streams(spark, processed).filter(F.col("listen_date").isin(sorted(touched_days)))
                       .select(*kpis.STREAM_KEY, "listen_date"))
        enriched = kpis.enrich_streams(kpis.play_counts(day_streams), songs, users).persist(
            StorageLevel.MEMORY_AND_DISK)
        results = kpis.daily_kpis(enriched, songs)
        # KPI rows are few (days x genres): one JSON document, loaded without Spark later.
        rows = {name: [r.asDict() for r in getattr(results, name).collect()]
                for name in KPI_NAMES}
        aws.write_json(s3, processed, layout.kpi_results_key(batch_id),
                       {"batch_id": batch_id, "touched_days": summary["touched_days"], **rows})
        summary["days"] = {r["listen_date"].isoformat(): {k: v for k, v in r.items()
                                                         if k != "listen_date"}
                           for r in rows["stream_quality"]}
        enriched.unpersist()


def finish_summary(s3, args: dict, summary: dict) -> None:
    streams_rows = [f for f in summary["files"].values() if f["dataset"] == datasets.STREAMS]
    summary["processed_records"] = sum(f["rows"] - f["rejected_rows"] for f in streams_rows)
    summary["rejected_records"] = sum(f["rejected_rows"] for f in streams_rows)
    days = summary.get("days", {}).values()
    summary["metrics"] = {
        "ProcessedRecords": summary["processed_records"],
        "RejectedRecords": summary["rejected_records"],
        "UnknownTrackStreams": sum(d["unknown_track_streams"] for d in days),
        "UnknownUserStreams": sum(d["unknown_user_streams"] for d in days),
    }
    aws.write_json(s3, args["processed_bucket"], layout.etl_summary_key(args["batch_id"]),
                   summary)


# ----------------------------------------------------------------------------- dynamodb_only
def dynamodb_only(spark, s3, args: dict, summary: dict) -> None:
    import boto3

    processed, batch_id = args["processed_bucket"], args["batch_id"]
    etl = aws.read_json(s3, processed, layout.etl_summary_key(batch_id))
    results = (aws.read_json(s3, processed, layout.kpi_results_key(batch_id))
               if etl.get("touched_days") else {})
    items = dynamo_items.kpi_items({name: results.get(name, []) for name in KPI_NAMES})
    dynamodb = boto3.resource("dynamodb", region_name=args["aws_region"])
    table = dynamodb.Table(args["dynamodb_table_name"])

    # Recomputed days are replaced whole: items of those days not produced now are stale.
    fresh = {dynamo_items.item_key(i) for i in items}
    stale = set()
    for day in etl.get("touched_days", []):
        query = {"IndexName": config.KPI_DATE_INDEX,
                 "KeyConditionExpression": "#d = :d", "ExpressionAttributeNames": {"#d": "date"},
                 "ExpressionAttributeValues": {":d": day}, "ProjectionExpression": "pk, sk"}
        while True:
            page = table.query(**query)
            stale.update(dynamo_items.item_key(i) for i in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    stale -= fresh
    with table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as writer:
        for item in items:
            writer.put_item(Item=item)
        for pk, sk in sorted(stale):
            writer.delete_item(Key={"pk": pk, "sk": sk})
    log.info("wrote %d KPI items, removed %d stale ones, for days %s", len(items), len(stale),
             etl.get("touched_days"))

    tracker = dynamodb.Table(config.file_tracker_table(args["dynamodb_table_name"]))
    stamp = now_iso()
    for key, info in sorted(etl["files"].items()):
        tracker.update_item(
            Key={"file_key": layout.s3_url(args["raw_data_bucket"], key)},
            UpdateExpression=("SET #s = :s, batch_id = :b, dataset = :ds, row_count = :r, "
                              "rejected_rows = :x, kpis_written_at = :t, updated_at = :t, "
                              "first_seen_at = if_not_exists(first_seen_at, :t)"),
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": KPIS_WRITTEN, ":b": batch_id, ":ds": info["dataset"],
                                       ":r": info["rows"], ":x": info["rejected_rows"],
                                       ":t": stamp})
    summary["metrics"] = {"DynamoDBWrites": len(items) + len(etl["files"])}


# ---------------------------------------------------------------------------- archiving_only
def archiving_only(spark, s3, args: dict, summary: dict) -> None:
    import boto3

    raw, processed, archive, batch_id = (args["raw_data_bucket"], args["processed_bucket"],
                                         args["archive_bucket"], args["batch_id"])
    if not archive:
        raise ValueError("archiving_only needs --archive_bucket")
    etl = aws.read_json(s3, processed, layout.etl_summary_key(batch_id))
    tracker = boto3.resource("dynamodb", region_name=args["aws_region"]).Table(
        config.file_tracker_table(args["dynamodb_table_name"]))
    archived, failed = 0, []
    for key in sorted(etl["files"]):
        file_key = layout.s3_url(raw, key)
        target = layout.archive_key(args["processing_date"], key)
        status = tracker.get_item(Key={"file_key": file_key}).get("Item", {}).get("status")
        try:
            if status not in (KPIS_WRITTEN, ARCHIVED):
                raise RuntimeError(f"KPIs of {file_key} are not written (status {status})")
            if aws.head(s3, raw, key) is None:
                if status == ARCHIVED and aws.head(s3, archive, target):
                    continue  # archived by an earlier run
                raise RuntimeError(f"{file_key} is missing and no archived copy exists")
            aws.move_verified(s3, raw, key, archive, target)
            tracker.update_item(
                Key={"file_key": file_key},
                UpdateExpression="SET #s = :s, archived_to = :a, archived_at = :t, updated_at = :t",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": ARCHIVED, ":a": layout.s3_url(archive, target),
                                           ":t": now_iso()})
            archived += 1
        except Exception as exc:  # noqa: BLE001 - every file is tried, failures reported at the end
            log.error("could not archive %s: %s", file_key, exc)
            failed.append({"file": file_key, "error": str(exc)})
    summary["metrics"] = {"ArchivedFiles": archived, "FailedFiles": len(failed)}
    summary["failed_files"] = failed
    if failed:
        raise RuntimeError(f"{len(failed)} file(s) could not be archived: {failed}")


TASKS = {"full_etl": full_etl, "dynamodb_only": dynamodb_only, "archiving_only": archiving_only}


def run(argv: list[str]) -> int:
    args = job_args.resolve(argv, REQUIRED, OPTIONAL)
    task_type = args["task_type"]
    if task_type not in TASKS:
        raise ValueError(f"task_type must be one of {TASK_TYPES}, not {task_type!r}")
    s3 = aws.client("s3", args["aws_region"])
    cloudwatch = aws.client("cloudwatch", args["aws_region"])
    summary: dict = {"batch_id": args["batch_id"], "processing_date": args["processing_date"],
                     "task_type": task_type, "started_at": now_iso(), "files": {}}
    # Only full_etl computes with Spark; loading and archiving are plain boto3 work.
    spark, job = (start_spark(args["JOB_NAME"], args) if task_type == "full_etl"
                  else (None, None))
    started = time.monotonic()
    try:
        TASKS[task_type](spark, s3, args, summary)
    except Exception:
        aws.put_metrics(cloudwatch, "ETL/Metrics", {
            "JobFailures": 1, **({"FailedFiles": summary["metrics"]["FailedFiles"]}
                                 if "FailedFiles" in summary.get("metrics", {}) else {})},
            {"TaskType": task_type})
        log.exception("%s of batch %s failed", task_type, args["batch_id"])
        raise
    aws.put_metrics(cloudwatch, "ETL/Metrics", {**summary.get("metrics", {}), "JobFailures": 0},
                    {"TaskType": task_type})
    log.info("%s of batch %s done in %.1f s: %s", task_type, args["batch_id"],
             time.monotonic() - started, json.dumps(summary.get("metrics", {})))
    if job is not None:
        job.commit()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.exit(run(sys.argv))
