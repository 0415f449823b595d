"""Glue Spark job ``music_streaming_etl_complete``: arguments (``job_args.EtlArgs``), Glue's
context and job where the task needs Spark, then one of the three tasks of
``music_streaming.etl_tasks`` (full_etl, dynamodb_only, archiving_only: what each does is
documented there), its metrics and the job's commit. Wiring only: every step is an importable,
tested function of the package.

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


def start_glue(args: EtlArgs):
    """(SparkSession, Job): Glue's context and job, as in every Glue script (in AWS Glue's own
    library, locally the stack's), with the pipeline's Spark settings."""
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from pyspark.context import SparkContext

    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(args.JOB_NAME, {k.lstrip("-"): v for k, v in args.arguments().items()})
    spark = glue_context.spark_session
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
    # Only full_etl computes with Spark; loading and archiving are plain boto3 work, which
    # starts no JVM locally (in Glue the job's Spark is there anyway).
    spark, job = start_glue(args) if args.task_type == "full_etl" else (None, None)
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
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.exit(run(sys.argv))
