"""Benchmark of a Glue run's own cost: a trivial script as Glue Studio writes it (GlueContext, Job,
a DynamicFrame of one file, ``job.commit``) against a trivial DataFrame-only script (a Spark
session reading the same file), each run through the local Glue API from StartJobRun to
SUCCEEDED. Runs its own MiniStack and Glue API on free ports in a temporary home; prints the
medians and their ratio.

    python -m devstack bench-glue-scripts [--runs 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

from devstack.core.stack_config import StackConfig
from devstack.runtime import stack

SCRIPTS = {
    "GlueContext + DynamicFrame": """
import sys
from awsglue.context import GlueContext
from awsglue.job import Job
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext

args = getResolvedOptions(sys.argv, ["JOB_NAME", "source"])
glueContext = GlueContext(SparkContext.getOrCreate())
job = Job(glueContext)
job.init(args["JOB_NAME"], args)
frame = glueContext.create_dynamic_frame.from_options(
    connection_type="s3", connection_options={"paths": [args["source"]]}, format="csv",
    format_options={"withHeader": True}, transformation_ctx="source",
)
print(frame.count())
job.commit()
""",
    "DataFrame only": """
import sys
from awsglue.utils import getResolvedOptions
from pyspark.sql import SparkSession

args = getResolvedOptions(sys.argv, ["JOB_NAME", "source"])
spark = SparkSession.builder.getOrCreate()
print(spark.read.option("header", True).csv(args["source"].replace("s3://", "s3a://")).count())
spark.stop()
""",
}
BUCKET = "bench-glue-scripts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=5, help="runs of each script")


def one_run(glue, job: str, arguments: dict[str, str]) -> tuple[float, str]:
    started = time.monotonic()
    run_id = glue.start_job_run(JobName=job, Arguments=arguments)["JobRunId"]
    while True:
        state = glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]
        if state["JobRunState"] in ("SUCCEEDED", "FAILED", "ERROR", "TIMEOUT", "STOPPED"):
            return time.monotonic() - started, state["JobRunState"]
        time.sleep(0.1)


def run(args: argparse.Namespace, base: StackConfig) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-glue-scripts-") as home:
        cfg = dataclasses.replace(
            base, home=Path(home), ministack_port=stack.free_port(), glue_port=stack.free_port()
        )
        parts = [stack.component(cfg, "ministack"), stack.component(cfg, "glue-api")]
        try:
            for part in parts:
                stack.start_and_wait(part, cfg)
            s3, glue = cfg.client("s3"), cfg.client("glue")
            s3.create_bucket(Bucket=BUCKET)
            s3.put_object(Bucket=BUCKET, Key="data/plays.csv", Body=b"track,plays\na,1\nb,2\n")
            rows, medians = [], {}
            for index, (title, script) in enumerate(SCRIPTS.items()):
                name = f"bench_script_{index}"
                s3.put_object(Bucket=BUCKET, Key=f"scripts/{name}.py", Body=script.encode())
                glue.create_job(
                    Name=name,
                    Role="arn:aws:iam::000000000000:role/glue",
                    Command={
                        "Name": "glueetl",
                        "ScriptLocation": f"s3://{BUCKET}/scripts/{name}.py",
                    },
                    GlueVersion="5.0",
                )
                source = {"--source": f"s3://{BUCKET}/data/"}
                times = []
                for _ in range(args.runs):
                    seconds, state = one_run(glue, name, source)
                    if state != "SUCCEEDED":
                        print(f"{title}: run {state}; see {cfg.home / 'glue' / 'runs'}")
                        return 1
                    times.append(seconds)
                medians[title] = statistics.median(times)
                rows.append(
                    [title, f"{medians[title]:.2f}", f"{min(times):.2f}", f"{max(times):.2f}"]
                )
            print(tabulate(rows, ["script (start → SUCCEEDED)", "median s", "min s", "max s"]))
            glue_s, plain_s = medians.values()
            print(f"GlueContext script / DataFrame-only script: {glue_s / plain_s:.2f}x")
            return 0
        finally:
            stack.stop(parts, cfg)
