"""Benchmark of the emulator's IAM modes: the same calls a Glue run makes most (S3 puts and gets,
ledger writes) by a session of the template's Glue role, against MiniStack with IAM off, audited and
enforced; calls per second (median of rounds) and the ratio to ``off``. Starts its own emulators on
free ports in a temporary home.

    scripts/bench_iam [--calls 1500] [--rounds 3] [--threads 8]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from tabulate import tabulate

from devstack.core import emulator
from devstack.core.stack_config import StackConfig
from devstack.provision import iam_roles
from devstack.runtime import stack
from music_streaming import aws, config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=1500, help="calls per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8)


def prepare(cfg: StackConfig) -> dict:
    """The template's roles, the buckets and ledger table; a session of the Glue role."""
    settings = config.settings()
    template = iam_roles.load_template()
    iam_roles.ensure_roles(cfg.client("iam"), template, iam_roles.local_context(settings, template))
    cfg.client("s3").create_bucket(Bucket=str(settings["processed_bucket"]))
    aws.pipeline_tables(cfg.client("dynamodb"), str(settings["dynamodb_table_name"]))
    return emulator.assume_role(
        cfg.client("sts"),
        emulator.local_role_arn(emulator.LOCAL_ROLE_NAMES["GlueJobRole"]),
        "bench",
    )


def one_round(cfg: StackConfig, session: dict, calls: int, threads: int) -> float:
    settings = config.settings()
    bucket = str(settings["processed_bucket"])
    table = config.file_tracker_table(str(settings["dynamodb_table_name"]))
    arguments = {"endpoint_url": cfg.endpoint, "region_name": cfg.region, **session}
    s3 = boto3.client("s3", config=aws.retrying(), **arguments)
    dynamodb = boto3.client("dynamodb", config=aws.retrying(), **arguments)

    def call(i: int) -> None:
        kind = i % 3
        key = f"processed_data/bench/{i}.json"
        if kind == 0:
            s3.put_object(Bucket=bucket, Key=key, Body=b"{}")
        elif kind == 1:
            s3.head_bucket(Bucket=bucket)
        else:
            dynamodb.update_item(
                TableName=table,
                Key={"file_key": {"S": f"bench-{i}"}},
                UpdateExpression="SET n = :n",
                ExpressionAttributeValues={":n": {"N": str(i)}},
            )

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(call, range(calls)))
    return calls / (time.monotonic() - started)


def run(args: argparse.Namespace, base: StackConfig) -> int:
    rates: dict[str, list[float]] = {}
    for mode in emulator.IAM_MODES:
        with tempfile.TemporaryDirectory(prefix=f"bench-iam-{mode}-") as home:
            cfg = StackConfig(home=Path(home), ministack_port=stack.free_port(), iam_mode=mode)
            ministack = stack.component(cfg, "ministack")
            emulator.prepare_state_dir(cfg.home / "ministack")
            cfg.iam_audit_log.parent.mkdir(parents=True, exist_ok=True)
            stack.start_and_wait(ministack, cfg, 30)
            try:
                session = prepare(cfg)
                one_round(cfg, session, min(200, args.calls), args.threads)  # warm-up
                rates[mode] = [
                    one_round(cfg, session, args.calls, args.threads) for _ in range(args.rounds)
                ]
            finally:
                stack.stop([ministack], cfg)
    off = statistics.median(rates["off"])
    rows = [
        (
            mode,
            f"{statistics.median(r):.0f}",
            f"{min(r):.0f}–{max(r):.0f}",
            f"{statistics.median(r) / off:.2f}",
        )
        for mode, r in rates.items()
    ]
    print(
        f"{args.calls} calls × {args.rounds} rounds, {args.threads} threads, a Glue-role session "
        "(S3 put, head bucket, DynamoDB update)"
    )
    print(tabulate(rows, ["IAM mode", "calls/s (median)", "range", "ratio to off"]))
    return 0
