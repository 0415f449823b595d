"""Benchmark of the local catalog services: a crawler over N small CSV files in P Hive partitions
(StartCrawler → READY; the first crawl and a re-crawl that finds nothing new), then a GROUP BY over
the crawled table through the local Athena API (StartQueryExecution → SUCCEEDED; the first query
fetches the files, the next ones read the cache). Runs its own MiniStack, Glue and Athena APIs on
free ports in a temporary home; prints medians.

    python -m devstack bench-catalog [--files 1000] [--partitions 100] [--queries 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tabulate import tabulate

from devstack.core.stack_config import StackConfig
from devstack.runtime import stack

BUCKET = "bench-catalog"
DATABASE = "bench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=100)
    parser.add_argument("--queries", type=int, default=5, help="runs of the GROUP BY")


def crawl(glue, name: str) -> float:
    started = time.monotonic()
    glue.start_crawler(Name=name)
    while True:
        crawler = glue.get_crawler(Name=name)["Crawler"]
        if crawler["State"] == "READY" and crawler.get("LastCrawl"):
            if crawler["LastCrawl"]["Status"] != "SUCCEEDED":
                raise RuntimeError(f"crawl {crawler['LastCrawl']}")
            return time.monotonic() - started
        time.sleep(0.05)


def query(athena, sql: str) -> float:
    started = time.monotonic()
    query_id = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": DATABASE},
        ResultConfiguration={"OutputLocation": f"s3://{BUCKET}/results/"},
    )["QueryExecutionId"]
    while True:
        status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        if status["State"] == "SUCCEEDED":
            return time.monotonic() - started
        if status["State"] in ("FAILED", "CANCELLED"):
            raise RuntimeError(f"query {status}")
        time.sleep(0.05)


def run(args: argparse.Namespace, base: StackConfig) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as home:
        cfg = dataclasses.replace(
            base,
            home=Path(home),
            ministack_port=stack.free_port(),
            glue_port=stack.free_port(),
            athena_port=stack.free_port(),
        )
        parts = [stack.component(cfg, n) for n in ("ministack", "glue-api", "athena-api")]
        try:
            for part in parts:
                stack.start_and_wait(part, cfg)
            s3, glue, athena = cfg.client("s3"), cfg.client("glue"), cfg.client("athena")
            s3.create_bucket(Bucket=BUCKET)

            def put(i: int) -> None:
                body = "track,genre,plays\n" + "".join(
                    f"t{i}-{r},g{r % 7},{r}\n" for r in range(20)
                )
                day = i % args.partitions
                s3.put_object(Bucket=BUCKET, Key=f"plays/day={day:03d}/part-{i}.csv", Body=body)

            with ThreadPoolExecutor(16) as pool:
                list(pool.map(put, range(args.files)))
            glue.create_crawler(
                Name="bench",
                Role="arn:aws:iam::000000000000:role/bench",
                DatabaseName=DATABASE,
                Targets={"S3Targets": [{"Path": f"s3://{BUCKET}/plays/"}]},
            )
            first, again = crawl(glue, "bench"), crawl(glue, "bench")
            partitions = glue.get_partitions(DatabaseName=DATABASE, TableName="plays")
            count = len(partitions["Partitions"])
            sql = "SELECT genre, count(*) AS n, sum(plays) AS plays FROM plays GROUP BY genre"
            times = [query(athena, sql) for _ in range(args.queries)]
            rows = [
                [f"crawl, {args.files} files in {count} partitions (first)", f"{first:.2f}"],
                ["re-crawl, nothing new", f"{again:.2f}"],
                [
                    "GROUP BY through the local Athena API, first (fetches the files)",
                    f"{times[0]:.2f}",
                ],
                [
                    f"GROUP BY, median of the next {len(times) - 1}",
                    f"{statistics.median(times[1:]):.2f}" if len(times) > 1 else "-",
                ],
            ]
            print(tabulate(rows, ["step", "seconds"]))
            return 0
        finally:
            stack.stop(parts, cfg)
