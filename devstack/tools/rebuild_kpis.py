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
    """What each stored snapshot covers (its key, batch, version and days), without its KPI rows:
    the rows are read again, one snapshot at a time, when its days are written."""
    keys = [
        k
        for k in aws.list_keys(s3, bucket, [layout.KPIS_PREFIX])
        if k.endswith(f"/{SNAPSHOT_FILE}")
    ]

    def summary(key: str) -> dict:
        snapshot = aws.read_json(s3, bucket, key)
        return {
            "key": key,
            "batch_id": snapshot.get("batch_id", ""),
            kpi_snapshot.VERSION: snapshot[kpi_snapshot.VERSION],
            "touched_days": snapshot["touched_days"],
        }

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(summary, keys))


def rebuild(s3, dynamodb, settings: dict, day: str | None) -> list[dict]:
    """One line of outcome per day rebuilt (all days any snapshot covers, or ``day``)."""
    bucket = str(settings["processed_bucket"])
    newest = kpi_snapshot.newest_per_day(stored_snapshots(s3, bucket))
    days = sorted(newest) if day is None else [day]
    if day is not None and day not in newest:
        raise LookupError(f"no KPI snapshot in s3://{bucket}/{layout.KPIS_PREFIX} covers {day}")
    writer = kpi_snapshot.SnapshotWriter(
        dynamodb, str(settings["dynamodb_table_name"]), config.KPI_DATE_INDEX
    )
    by_snapshot: dict[str, list[str]] = {}
    for d in days:
        by_snapshot.setdefault(newest[d]["key"], []).append(d)
    outcomes = []
    for key, snapshot_days in sorted(by_snapshot.items()):  # one snapshot in memory at a time
        snapshot = aws.read_json(s3, bucket, key)
        items = dynamo_items.snapshot_items(snapshot)
        version = int(snapshot[kpi_snapshot.VERSION])
        for d in snapshot_days:
            day_items = [i for i in items if i["date"] == d]
            state, removed = writer.write_day(
                d, day_items, version, str(snapshot.get("batch_id", ""))
            )
            outcomes.append(
                {
                    "date": d,
                    "outcome": state,
                    "items": len(day_items),
                    "stale_removed": removed,
                    "snapshot_version": version,
                    "batch_id": snapshot.get("batch_id"),
                }
            )
    return sorted(outcomes, key=lambda o: o["date"])


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
