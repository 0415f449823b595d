"""``scripts/retry FILE|--failed``: puts files that failed for good (FAILED in the file ledger,
after ``max_file_attempts`` runs died holding them) back to RECEIVED with their attempts reset;
the sweeper (or the next upload) starts a run for them. FILE is a raw key (every FAILED version
of it) or a file id (``s3://bucket/key#version``)."""

from __future__ import annotations

import argparse
import sys

from devstack.core.stack_config import StackConfig
from music_streaming import config
from music_streaming import ledger as file_ledger


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("file", nargs="?", help="a raw key, or a file id s3://bucket/key#version")
    which.add_argument("--failed", action="store_true", help="every FAILED file")
    parser.add_argument(
        "--aws", action="store_true", help="the ledger in AWS (default credential chain)"
    )


def chosen(failed: list[dict], file: str | None) -> list[dict]:
    """The FAILED items a request names (all of them for None)."""
    if file is None:
        return failed
    return [i for i in failed if file in (i["file_key"], i["key"])]


def run(args: argparse.Namespace, cfg: StackConfig) -> int:
    import boto3

    dynamodb = boto3.resource("dynamodb") if args.aws else cfg.resource("dynamodb")
    table = config.file_tracker_table(str(config.settings()["dynamodb_table_name"]))
    ledger = file_ledger.Ledger(dynamodb.Table(table))
    items = chosen(ledger.scan_states([file_ledger.FAILED]), args.file)
    if not items:
        print(
            f"retry: no FAILED file {'matches ' + args.file if args.file else 'in the ledger'}",
            file=sys.stderr,
        )
        return 1
    for item in items:
        done = ledger.retry_failed(item["file_key"])
        print(
            f"{'RECEIVED' if done else 'unchanged'}  {item['file_key']}  (was: {item.get('reason')})"
        )
    return 0
