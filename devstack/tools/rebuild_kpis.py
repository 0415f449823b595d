"""``scripts/rebuild-kpis [--date D]``: the KPI table rebuilt from S3. The table is derived data:
each day's items are those of the newest KPI snapshot (``kpis/batch_id=*/kpis.json``) that covers
the day, written through the same monotonic writer as the pipeline's ``dynamodb_only`` (a newer
snapshot written meanwhile wins; items the snapshot lacks are removed)."""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor

from devstack.core import arguments
from devstack.core.stack_config import StackConfig
from music_streaming import aws, config, dynamo_items, kpi_snapshot, layout

SNAPSHOT_FILE = "kpis.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=arguments.iso_date, help="only this day (YYYY-MM-DD)")
    parser.add_argument("--aws", action="store_true", help="in AWS (default credentials)")


def stored_snapshots(s3, bucket: str) -> list[dict]:
    keys = [
        k
        for k in aws.list_keys(s3, bucket, [layout.KPIS_PREFIX])
        if k.endswith(f"/{SNAPSHOT_FILE}")
    ]
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda key: aws.read_json(s3, bucket, key), keys))


def rebuild(s3, dynamodb, settings: dict, day: str | None) -> list[dict]:
    """One line of outcome per day rebuilt (all days any snapshot covers, or ``day``)."""
    newest = kpi_snapshot.newest_per_day(stored_snapshots(s3, str(settings["processed_bucket"])))
    days = sorted(newest) if day is None else [day]
    if day is not None and day not in newest:
        raise LookupError(
            f"no KPI snapshot in s3://{settings['processed_bucket']}/"
            f"{layout.KPIS_PREFIX} covers {day}"
        )
    writer = kpi_snapshot.SnapshotWriter(
        dynamodb, str(settings["dynamodb_table_name"]), config.KPI_DATE_INDEX
    )
    items_of: dict[int, list[dict]] = {}  # by snapshot (id), built once
    outcomes = []
    for d in days:
        snapshot = newest[d]
        if id(snapshot) not in items_of:
            items_of[id(snapshot)] = dynamo_items.snapshot_items(snapshot)
        items = [i for i in items_of[id(snapshot)] if i["date"] == d]
        version = int(snapshot[kpi_snapshot.VERSION])
        state, removed = writer.write_day(d, items, version)
        outcomes.append(
            {
                "date": d,
                "outcome": state,
                "items": len(items),
                "stale_removed": removed,
                "snapshot_version": version,
                "batch_id": snapshot.get("batch_id"),
            }
        )
    return outcomes


def run(args: argparse.Namespace, cfg: StackConfig) -> int:
    if args.aws:
        s3, dynamodb = (
            aws.client("s3", config.DEFAULT_REGION),
            aws.client("dynamodb", config.DEFAULT_REGION),
        )
    else:
        s3, dynamodb = cfg.client("s3"), cfg.client("dynamodb")
    try:
        outcomes = rebuild(s3, dynamodb, config.settings(), args.date)
    except LookupError as exc:
        print(f"rebuild-kpis: {exc.args[0]}", file=sys.stderr)
        return 1
    for o in outcomes:
        print(
            f"{o['date']}  {o['outcome']:<10}  {o['items']} items, {o['stale_removed']} stale "
            f"removed (snapshot {o['snapshot_version']} of {o['batch_id']})"
        )
    written = sum(o["outcome"] == kpi_snapshot.WRITTEN for o in outcomes)
    print(f"{written} of {len(outcomes)} day(s) rebuilt from S3; the others hold a newer snapshot")
    return 0
