"""Glue Spark job ``music_streaming_etl_complete``: arguments (``job_args.EtlArgs``), the Spark
session where the task needs one, then one of the three tasks of ``music_streaming.etl_tasks``
(full_etl, dynamodb_only, archiving_only: what each does is documented there), its metrics and
the job's commit. Wiring only: every step is an importable, tested function of the package.

S3 access settings (endpoint, credentials) come from outside the script, as in Glue.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from music_streaming import aws, config
from music_streaming.etl_tasks import TASKS, ArchivingFailed
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
