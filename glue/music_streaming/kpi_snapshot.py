"""Monotonic KPI snapshots in DynamoDB: an older computation never replaces a newer one.

A day's KPIs are recomputed whole and carry a snapshot version (the time, in ms, at which the job
started reading the processed data, after its own rows were committed: of two snapshots of a day,
the later-versioned one saw everything the earlier one saw). Per day:

1. the marker item ``DATE#{day}`` / ``SNAPSHOT`` moves to the version, only forward;
2. items are written in transactions that each first check the marker still holds the version,
   so once a newer snapshot took the day, an older writer cannot add a single item;
3. items of the day that the snapshot dropped are removed, again under that check and only if
   an older snapshot wrote them.

A retry of the same snapshot (same version) simply completes it.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from music_streaming import aws, dynamo_items

SNAPSHOT_SK = "SNAPSHOT"
SNAPSHOT_KIND = "snapshot"
VERSION = "snapshot_version"
TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems, the check included
WRITTEN, SUPERSEDED = "written", "superseded"
_serialize = TypeSerializer().serialize


def marker_key(day: str) -> dict:
    return {"pk": dynamo_items.date_pk(day), "sk": SNAPSHOT_SK}


def is_marker(item: Mapping) -> bool:
    return item.get("sk") == SNAPSHOT_SK


def stale_keys(
    existing: Iterable[Mapping], fresh: Iterable[Tuple[str, str]], version: int
) -> List[Tuple[str, str]]:
    """Items of a day to remove: written by an older snapshot and absent from this one."""
    keep = set(fresh)
    return sorted(
        dynamo_items.item_key(i)
        for i in existing
        if not is_marker(i)
        and dynamo_items.item_key(i) not in keep
        and int(i.get(VERSION, 0)) < version
    )


def newest_per_day(snapshots: Iterable[Mapping]) -> Dict[str, Mapping]:
    """Of stored snapshots (``kpis.json`` documents: ``snapshot_version``, ``touched_days``),
    the newest that covers each day: what the day's items in DynamoDB are made from (so the
    table can be rebuilt from S3). Equal versions: the later batch id, so a choice is stable."""
    newest: Dict[str, Mapping] = {}
    for snapshot in snapshots:
        rank = (int(snapshot[VERSION]), snapshot.get("batch_id", ""))
        for day in snapshot["touched_days"]:
            held = newest.get(day)
            if held is None or rank > (int(held[VERSION]), held.get("batch_id", "")):
                newest[day] = snapshot
    return newest


def _low_level(item: Mapping) -> dict:
    return {name: _serialize(value) for name, value in item.items()}


def _cancelled(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in (
        "TransactionCanceledException",
        "ConditionalCheckFailedException",
    )


class SnapshotWriter:
    """Writes day snapshots to the KPI table with a low-level DynamoDB client."""

    def __init__(self, client, table_name: str, date_index: str):
        self.client, self.table, self.date_index = client, table_name, date_index

    def _take_day(self, day: str, version: int) -> bool:
        try:
            self.client.update_item(
                TableName=self.table,
                Key=_low_level(marker_key(day)),
                UpdateExpression="SET #v = :v, kpi = :k, #d = :d",
                ConditionExpression="attribute_not_exists(pk) OR #v <= :v",
                ExpressionAttributeNames={"#v": VERSION, "#d": "date"},
                ExpressionAttributeValues=_low_level(
                    {":v": version, ":k": SNAPSHOT_KIND, ":d": day}
                ),
            )
            return True
        except ClientError as exc:
            if _cancelled(exc):
                return False
            raise

    def _transact(self, day: str, version: int, actions: List[dict]) -> bool:
        """Actions in transactions guarded by the day's marker; False once it moved on."""
        guard = {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": _low_level(marker_key(day)),
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": VERSION},
                "ExpressionAttributeValues": _low_level({":v": version}),
            }
        }
        size = TRANSACTION_ITEMS - 1
        for start in range(0, len(actions), size):
            try:
                self.client.transact_write_items(
                    TransactItems=[guard, *actions[start : start + size]]
                )
            except ClientError as exc:
                if _cancelled(exc):
                    return False
                raise
        return True

    def _day_items(self, day: str) -> List[dict]:
        from boto3.dynamodb.types import TypeDeserializer

        deserialize = TypeDeserializer().deserialize
        query = {
            "TableName": self.table,
            "IndexName": self.date_index,
            "KeyConditionExpression": "#d = :d",
            "ExpressionAttributeNames": {"#d": "date", "#v": VERSION},
            "ExpressionAttributeValues": _low_level({":d": day}),
            "ProjectionExpression": "pk, sk, #v",
        }
        return [
            {k: deserialize(v) for k, v in i.items()}
            for i in aws.all_items(self.client.query, **query)
        ]

    def write_day(self, day: str, items: List[dict], version: int) -> Tuple[str, int]:
        """(WRITTEN or SUPERSEDED, stale items removed) for one day's snapshot."""
        if not self._take_day(day, version):
            return SUPERSEDED, 0
        puts = [
            {"Put": {"TableName": self.table, "Item": _low_level({**i, VERSION: version})}}
            for i in items
        ]
        if not self._transact(day, version, puts):
            return SUPERSEDED, 0
        stale = stale_keys(self._day_items(day), (dynamo_items.item_key(i) for i in items), version)
        deletes = [
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": _low_level({"pk": pk, "sk": sk}),
                    "ConditionExpression": "attribute_not_exists(#v) OR #v < :v",
                    "ExpressionAttributeNames": {"#v": VERSION},
                    "ExpressionAttributeValues": _low_level({":v": version}),
                }
            }
            for pk, sk in stale
        ]
        if not self._transact(day, version, deletes):
            return SUPERSEDED, 0
        return WRITTEN, len(stale)

    def write(
        self,
        items: List[dict],
        days: Iterable[str],
        version: int,
        executor: Optional[object] = None,
    ) -> dict:
        """Every touched day (days without items are emptied); {day: (outcome, removed)}."""
        by_day: dict = {day: [] for day in days}
        for item in items:
            by_day.setdefault(item["date"], []).append(item)
        work = sorted(by_day.items())
        if executor is None:
            return {day: self.write_day(day, day_items, version) for day, day_items in work}
        futures = {
            day: executor.submit(self.write_day, day, day_items, version) for day, day_items in work
        }
        return {day: future.result() for day, future in futures.items()}
