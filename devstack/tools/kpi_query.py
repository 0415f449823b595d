"""Prints the KPIs stored in DynamoDB: as tables, or with --json one JSON object per KPI item."""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from decimal import Decimal

from boto3.dynamodb.conditions import Attr, Key

from devstack.core.stack_config import StackConfig
from music_streaming import aws, config, dynamo_items, kpi_snapshot, layout


def fetch(table, date: str | None, genre: str | None) -> list[dict]:
    if date and genre:
        kwargs = {"KeyConditionExpression": Key("pk").eq(dynamo_items.genre_pk(genre, date))}
    elif date:
        kwargs = {
            "IndexName": config.KPI_DATE_INDEX,
            "KeyConditionExpression": Key("date").eq(date),
        }
    else:
        kwargs = {}
    if genre and not date:
        kwargs["FilterExpression"] = Attr("genre").eq(genre)
    return aws.all_items(table.query if date else table.scan, **kwargs)


def settled_fetch(
    table,
    date: str | None,
    genre: str | None,
    stored_snapshot: Callable[[str], dict],
    attempts: int = 5,
    pause: float = 0.4,
) -> list[dict]:
    """``fetch``, never showing a half-written day (a snapshot is written in several
    transactions): a day caught mid-write is read again; one still being written after that is
    taken from the stored snapshot its marker names as written (``stored_snapshot(batch_id)``:
    the ``kpis.json`` document), the items DynamoDB held before the write began having been
    replaced in part."""
    for attempt in range(attempts):
        items = fetch(table, date, genre)
        unsettled = unsettled_days(table, items)
        if not unsettled:
            return items
        if attempt < attempts - 1:
            time.sleep(pause)
    kept = [i for i in items if i["date"] not in unsettled]
    for day, marker in sorted(unsettled.items()):
        batch = marker.get(kpi_snapshot.WRITTEN_BATCH) if marker else None
        if not batch:
            print(f"kpis: {day} is being written; left out", file=sys.stderr)
            continue
        kept += [
            {**i, kpi_snapshot.VERSION: marker[kpi_snapshot.WRITTEN_VERSION]}
            for i in dynamo_items.snapshot_items(stored_snapshot(str(batch)))
            if i["date"] == day and _matches(i, date, genre)
        ]
    return kept


def _matches(item: dict, date: str | None, genre: str | None) -> bool:
    if date and genre:
        return item["pk"] == dynamo_items.genre_pk(genre, date)
    return genre is None or item.get("genre") == genre


def unsettled_days(table, items: list[dict]) -> dict[str, dict | None]:
    """Days among ``items`` whose items are not exactly one written snapshot: {day: marker}."""
    markers = {i["date"]: i for i in items if kpi_snapshot.is_marker(i)}
    unsettled = {}
    for day in sorted({i["date"] for i in items}):
        if day not in markers:
            markers[day] = table.get_item(
                Key=kpi_snapshot.marker_key(day), ConsistentRead=True
            ).get("Item")
        if not kpi_snapshot.settled(markers[day], (i for i in items if i["date"] == day)):
            unsettled[day] = markers[day]
    return unsettled


def snapshot_reader(s3, processed_bucket: str) -> Callable[[str], dict]:
    """Reads (once each) the stored KPI snapshot of a batch."""
    return functools.lru_cache(maxsize=None)(
        lambda batch: aws.read_json(s3, processed_bucket, layout.kpi_results_key(batch))
    )


def plain(value):
    """DynamoDB's Decimals as ints or floats, inside dicts and lists too (for JSON and text)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def table_text(title: str, headers: list[str], rows: list[list]) -> str:
    cells = [headers] + [["" if v is None else str(plain(v)) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        title,
        "  ".join(h.ljust(w) for h, w in zip(headers, widths)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells[1:]]
    return "\n".join(lines)


def render(items: list[dict]) -> str:
    by_kind: dict[str, list[dict]] = {}
    for item in items:
        by_kind.setdefault(item["kpi"], []).append(item)
    out = []
    daily = sorted(
        by_kind.get(dynamo_items.GENRE_DAILY, []),
        key=lambda i: (i["date"], -i["listen_count"], i["genre"]),
    )
    if daily:
        out.append(
            table_text(
                "Genre KPIs per day (1-4)",
                ["date", "genre", "listens", "listeners", "total_ms", "avg_ms_per_user"],
                [
                    [
                        i["date"],
                        i["genre"],
                        i["listen_count"],
                        i["unique_listeners"],
                        i["total_listening_time_ms"],
                        i["avg_listening_time_per_user_ms"],
                    ]
                    for i in daily
                ],
            )
        )
    songs = sorted(
        by_kind.get(dynamo_items.TOP_SONG, []), key=lambda i: (i["date"], i["genre"], i["rank"])
    )
    if songs:
        out.append(
            table_text(
                "Top 3 songs per genre and day (5)",
                ["date", "genre", "rank", "plays", "track_id", "track", "artists"],
                [
                    [
                        i["date"],
                        i["genre"],
                        i["rank"],
                        i["play_count"],
                        i["track_id"],
                        i.get("track_name"),
                        i.get("artists"),
                    ]
                    for i in songs
                ],
            )
        )
    genres = sorted(by_kind.get(dynamo_items.TOP_GENRE, []), key=lambda i: (i["date"], i["rank"]))
    if genres:
        out.append(
            table_text(
                "Top 5 genres per day (6)",
                ["date", "rank", "genre", "listens"],
                [[i["date"], i["rank"], i["genre"], i["listen_count"]] for i in genres],
            )
        )
    quality = sorted(by_kind.get(dynamo_items.QUALITY, []), key=lambda i: i["date"])
    if quality:
        out.append(
            table_text(
                "Streams per day with unknown track / user",
                ["date", "streams", "unknown_track", "unknown_user"],
                [
                    [i["date"], i["streams"], i["unknown_track_streams"], i["unknown_user_streams"]]
                    for i in quality
                ],
            )
        )
    return "\n\n".join(out) if out else "no KPIs found"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", help="YYYY-MM-DD")
    parser.add_argument("--genre")
    parser.add_argument("--json", action="store_true", help="one JSON object per KPI item")
    parser.add_argument("--table", default=config.VARIABLE_DEFAULTS["dynamodb_table_name"])
    parser.add_argument(
        "--aws",
        action="store_true",
        help="read the table in AWS (default credential chain), not the local stack",
    )


def run(args: argparse.Namespace, cfg: StackConfig) -> int:
    import boto3

    dynamodb = boto3.resource("dynamodb") if args.aws else cfg.resource("dynamodb")
    s3 = boto3.client("s3") if args.aws else cfg.client("s3")
    snapshots = snapshot_reader(s3, str(config.settings()["processed_bucket"]))
    items = settled_fetch(dynamodb.Table(args.table), args.date, args.genre, snapshots)
    if args.json:
        for item in sorted(items, key=lambda i: (i["date"], i["pk"], i["sk"])):
            print(json.dumps({k: plain(v) for k, v in sorted(item.items())}, ensure_ascii=False))
    else:
        print(render(items))
    return 0
