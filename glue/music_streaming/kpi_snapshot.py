"""Monotonic KPI snapshots in DynamoDB: an older computation never replaces a newer one.

A day's KPIs are recomputed whole and carry a snapshot version (the time, in ms, at which the job
started reading the processed data, after its own rows were committed: of two snapshots of a day,
the later-versioned one saw everything the earlier one saw). Per day:

1. the marker item ``DATE#{day}`` / ``SNAPSHOT`` moves to the version, only forward;
2. items are written in transactions that each first check the marker still holds the version,
   so once a newer snapshot took the day, an older writer cannot add a single item;
3. items of the day that the snapshot dropped are removed, again under that check and only if
   an older snapshot wrote them;
4. the marker records the version as written (``written_version``) and the snapshot it came
   from (``written_batch``: ``kpis/batch_id={batch}/kpis.json`` holds the same items), so a
   reader can tell a settled day from one being written (``settled``).

Only the marker's own condition failing means "a newer snapshot won". Any other cancellation (a
conflicting transaction, throttling) is retried with backoff; an item over DynamoDB's 400 KB is
refused before writing, naming the item. A retry of the same snapshot (same version) completes it.
"""

from __future__ import annotations

import time
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from music_streaming import aws, dynamo_items

SNAPSHOT_SK = "SNAPSHOT"
SNAPSHOT_KIND = "snapshot"
VERSION = "snapshot_version"
TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems, the check included
WRITTEN, SUPERSEDED = "written", "superseded"
WRITTEN_VERSION, WRITTEN_BATCH = "written_version", "written_batch"
MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit, names and values
RETRIES = 8  # of a transaction cancelled by a conflict or throttling, with backoff
# Cancellation reasons that a later attempt can clear (DynamoDB's CancellationReasons codes).
TRANSIENT = ("TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded")
# Whole-request errors of the same kind (the SDK's own retries already ran).
_TRANSIENT_ERRORS = (
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "TransactionInProgressException",
)
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


class ItemTooLarge(ValueError):
    """A KPI item over DynamoDB's item size limit (a genre or title no contract bounded)."""


class SnapshotCancelled(RuntimeError):
    """A transaction cancelled for a reason that retrying did not clear."""


def item_size(item: Mapping) -> int:
    """Bytes DynamoDB counts for an item (attribute names plus values, as its documentation
    sizes them), rounded up where the rules are approximate: strings and binary by length,
    numbers up to 21 bytes, 3 bytes per list or map plus 1 per element."""
    return sum(len(name.encode("utf-8")) + _value_size(value) for name, value in item.items())


def _value_size(value) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, (int, float)) or type(value).__name__ == "Decimal":
        return 21
    if isinstance(value, Mapping):
        return 3 + sum(1 + len(k.encode("utf-8")) + _value_size(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return 3 + sum(1 + _value_size(v) for v in value)
    return len(str(value).encode("utf-8"))


def check_item_sizes(items: Iterable[Mapping]) -> None:
    for item in items:
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            raise ItemTooLarge(
                f"KPI item pk={str(item.get('pk'))[:120]!r} sk={str(item.get('sk'))[:120]!r} is "
                f"{size} bytes; DynamoDB stores at most {MAX_ITEM_BYTES} bytes per item"
            )


def cancellation_codes(exc: ClientError) -> List[str]:
    """The per-action codes of a cancelled transaction ("None" for an action that was fine)."""
    return [str(r.get("Code") or "None") for r in exc.response.get("CancellationReasons") or []]


class SnapshotWriter:
    """Writes day snapshots to the KPI table with a low-level DynamoDB client."""

    def __init__(
        self,
        client,
        table_name: str,
        date_index: str,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client, self.table, self.date_index, self.sleep = client, table_name, date_index, sleep

    def _marker_version(self, day: str) -> Optional[int]:
        item = self.client.get_item(
            TableName=self.table, Key=_low_level(marker_key(day)), ConsistentRead=True
        ).get("Item")
        return int(item[VERSION]["N"]) if item and VERSION in item else None

    def _superseded(self, day: str, version: int) -> bool:
        """A newer snapshot took the day (read consistently, whatever a cancellation said)."""
        held = self._marker_version(day)
        return held is not None and held > version

    def _backoff(self, attempt: int) -> None:
        self.sleep(min(2.0, 0.05 * 2**attempt))

    def _update_marker(self, day: str, update: str, condition: str, names: dict, values: dict):
        """One conditional update of the day's marker, retried on throttling; False when its
        condition fails (a newer snapshot holds the day)."""
        for attempt in range(RETRIES):
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key=_low_level(marker_key(day)),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=_low_level(values),
                )
                return True
            except ClientError as exc:
                code = aws.error_code(exc)
                if code == "ConditionalCheckFailedException":
                    return False
                if code not in _TRANSIENT_ERRORS or attempt == RETRIES - 1:
                    raise
                self._backoff(attempt)
        return False  # not reached

    def _take_day(self, day: str, version: int) -> bool:
        """Moves the day's marker to ``version`` (never back); False when a newer one holds it.
        written_version is 0 until a first snapshot is written: a reader tells a first write in
        progress from a day written before markers recorded it."""
        return self._update_marker(
            day,
            "SET #v = :v, kpi = :k, #d = :d, #w = if_not_exists(#w, :z)",
            "attribute_not_exists(pk) OR #v <= :v",
            {"#v": VERSION, "#d": "date", "#w": WRITTEN_VERSION},
            {":v": version, ":k": SNAPSHOT_KIND, ":d": day, ":z": 0},
        )

    def _settle(self, day: str, version: int, batch_id: str) -> bool:
        """Records the day as written by this snapshot; False when a newer one took it."""
        return self._update_marker(
            day,
            "SET #w = :v, #b = :b",
            "#v = :v",
            {"#v": VERSION, "#w": WRITTEN_VERSION, "#b": WRITTEN_BATCH},
            {":v": version, ":b": batch_id},
        )

    def _transact(self, day: str, version: int, actions: List[dict]) -> bool:
        """Actions in transactions guarded by the day's marker; False once it moved on. Only the
        guard failing (or the marker found newer) means superseded; conflicts and throttling
        are retried; anything else is raised with the reasons DynamoDB gave."""
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
            chunk = [guard, *actions[start : start + size]]
            for attempt in range(RETRIES):
                try:
                    self.client.transact_write_items(TransactItems=chunk)
                    break
                except ClientError as exc:
                    if aws.error_code(exc) not in (
                        "TransactionCanceledException",
                        *_TRANSIENT_ERRORS,
                    ):
                        raise
                    codes = cancellation_codes(exc)
                    if codes[:1] == ["ConditionalCheckFailed"] or self._superseded(day, version):
                        return False
                    if codes and not all(c == "None" or c in TRANSIENT for c in codes):
                        raise SnapshotCancelled(
                            f"KPI snapshot {version} of {day}: transaction cancelled, reasons "
                            f"{codes}"
                        ) from exc
                    if attempt == RETRIES - 1:
                        raise SnapshotCancelled(
                            f"KPI snapshot {version} of {day}: still cancelled after {RETRIES} "
                            f"attempts ({codes or aws.error_code(exc)})"
                        ) from exc
                    self._backoff(attempt)
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

    def write_day(
        self, day: str, items: List[dict], version: int, batch_id: str = ""
    ) -> Tuple[str, int]:
        """(WRITTEN or SUPERSEDED, stale items removed) for one day's snapshot."""
        check_item_sizes({**i, VERSION: version} for i in items)
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
        if not self._settle(day, version, batch_id):
            return SUPERSEDED, 0
        return WRITTEN, len(stale)

    def write(
        self,
        items: List[dict],
        days: Iterable[str],
        version: int,
        executor: Optional[object] = None,
        batch_id: str = "",
    ) -> dict:
        """Every touched day (days without items are emptied); {day: (outcome, removed)}.
        ``batch_id`` names the stored snapshot (``kpis/batch_id=.../kpis.json``) the items are."""
        by_day: dict = {day: [] for day in days}
        for item in items:
            by_day.setdefault(item["date"], []).append(item)
        work = sorted(by_day.items())
        if executor is None:
            return {
                day: self.write_day(day, day_items, version, batch_id) for day, day_items in work
            }
        futures = {
            day: executor.submit(self.write_day, day, day_items, version, batch_id)
            for day, day_items in work
        }
        return {day: future.result() for day, future in futures.items()}


def settled(marker: Optional[Mapping], day_items: Iterable[Mapping]) -> bool:
    """True when a day's items are exactly one written snapshot: the marker's version is written
    and every item carries it (a reader seeing anything else caught a write in progress)."""
    if not marker:
        return False
    version = int(marker[VERSION])
    # a marker without written_version predates it: its items alone tell
    if marker.get(WRITTEN_VERSION) is not None and int(marker[WRITTEN_VERSION]) != version:
        return False
    return all(int(i.get(VERSION, -1)) == version for i in day_items if not is_marker(i))
