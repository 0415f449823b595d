"""The file ledger: one item per raw file *version* (key + S3 version id), one state machine each.

    RECEIVED -> CLAIMED(batch) -> VALIDATED | QUARANTINED -> PROCESSED -> KPIS_WRITTEN -> ARCHIVED
    IGNORED (a key the pipeline does not take, recorded with the reason)
    CLAIMED..KPIS_WRITTEN -> RECEIVED (released: its run died; attempts + 1) | FAILED (attempts
    used up; the step and the reason kept)

A claim is a lease: it names the DAG run that holds the file and when the claim expires. The
sweeper (``recovery``) releases the files of a run that failed, ended, vanished or overran.

Every transition is a conditional write naming the state it leaves and the batch that owns the file,
so two runs (realtime and daily, or a retry beside an orphan) can never both act on one version, and
a stage retried after a crash finds either its own finished work or the state it left off in.
The table is the KPI table's ``_file_tracker``; the index ``state-index`` (state, upload_order) finds
pending files oldest upload first. A control item holds the "a realtime run is waiting" flag.

Standard library + boto3 (the Lambda, the Python shell job and the DAGs all import it).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, Iterable, List, Optional, Sequence

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from music_streaming import aws, config, datasets

log = logging.getLogger(__name__)

RECEIVED, CLAIMED, VALIDATED, QUARANTINED = "RECEIVED", "CLAIMED", "VALIDATED", "QUARANTINED"
PROCESSED, KPIS_WRITTEN, ARCHIVED, IGNORED = "PROCESSED", "KPIS_WRITTEN", "ARCHIVED", "IGNORED"
FAILED = "FAILED"
STATES = (
    RECEIVED,
    CLAIMED,
    VALIDATED,
    QUARANTINED,
    PROCESSED,
    KPIS_WRITTEN,
    ARCHIVED,
    IGNORED,
    FAILED,
)
# The only moves the pipeline makes; everything else is refused by the table itself.
TRANSITIONS: Dict[str, tuple] = {
    RECEIVED: (CLAIMED,),
    CLAIMED: (VALIDATED, QUARANTINED),
    VALIDATED: (PROCESSED,),
    PROCESSED: (KPIS_WRITTEN,),
    KPIS_WRITTEN: (ARCHIVED,),
}
TERMINAL = (QUARANTINED, ARCHIVED, IGNORED, FAILED)
# States a run holds a file in (its lease runs): what the sweeper may release.
HELD = (CLAIMED, VALIDATED, PROCESSED, KPIS_WRITTEN)
# The step a held file waits for, named in a failure's reason.
NEXT_STEP = {
    CLAIMED: "validation",
    VALIDATED: "full_etl",
    PROCESSED: "dynamodb_only",
    KPIS_WRITTEN: "archiving_only",
}
# The main path, in order: a stage rerun after later stages finished finds its work done.
PATH = (CLAIMED, VALIDATED, PROCESSED, KPIS_WRITTEN, ARCHIVED)
# Versions whose rows count in the KPIs (the newest upload of each key among them wins).
COUNTED = (PROCESSED, KPIS_WRITTEN, ARCHIVED)
STATE_INDEX = config.LEDGER_STATE_INDEX
RUN_REQUEST_ID = "#control#realtime-run-requested"
UNVERSIONED = "null"  # S3's version id of an object in a bucket without versioning


ATTEMPTS = "attempts"  # runs that died holding the file
# why each of those runs lost it: {batch_id, step, reason, at} (validation's "errors" say why a
# file is invalid; these say why a run could not finish it)
FAILURES = "failures"
BATCH_LIMIT = "batch_limit"  # most files a batch holding this (released) file may take
LEASE_ATTRIBUTES = ("claimed_by_dag", "claimed_by_run", "lease_expires_epoch")
MAX_ERROR_CHARS = 1000  # of an error kept in the ledger (the item stays far below 400 KB)


@dataclass(frozen=True)
class Lease:
    """Who holds a claim, and until when (epoch seconds): the DAG run, and how long it may take."""

    dag_id: str
    run_id: str
    seconds: float

    def attributes(self) -> dict:
        return {
            "claimed_by_dag": self.dag_id,
            "claimed_by_run": self.run_id,
            "lease_expires_epoch": int(time.time() + self.seconds),
        }


def retry_batch_limit(batch_size: int, attempts: int, attempts_allowed: int) -> int:
    """How many files a batch holding a released file may take: half the batch it failed in
    (rounded up), and 1 on its last attempt, so a file only ever fails for good alone."""
    if attempts >= attempts_allowed - 1:
        return 1
    return max(1, (batch_size + 1) // 2)


class TransitionRefused(RuntimeError):
    """The file is not in a state (or batch) this stage may act on."""


def can_move(source: str, target: str) -> bool:
    return target in TRANSITIONS.get(source, ())


def reached(state: str, target: str) -> bool:
    """True when a file in ``state`` has been through ``target`` already."""
    if state == target:
        return True
    return state in PATH and target in PATH and PATH.index(state) > PATH.index(target)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class FileVersion:
    """One upload: what S3 told us about it (event or listing)."""

    bucket: str
    key: str
    version_id: str
    etag: str
    size: int
    uploaded_at: str  # ISO 8601, UTC, seconds (S3's LastModified resolution)
    sequencer: str = ""  # S3's per-key event order, when the version came from an event
    listed_latest: bool = False  # found by a listing as the key's current version (no event)

    @property
    def file_id(self) -> str:
        return file_id(self.bucket, self.key, self.version_id)

    @property
    def upload_order(self) -> str:
        """Sorts versions by upload: time, then S3's sequencer (same-second uploads). A version
        a listing found has no sequencer: the key's current one sorts after every other version
        of its second (it is the newest), an older one before them."""
        if self.sequencer:
            tie = self.sequencer.rjust(32, "0")
        else:
            tie = "~" if self.listed_latest else ""
        return f"{self.uploaded_at}|{tie}"


def file_id(bucket: str, key: str, version_id: str) -> str:
    return f"s3://{bucket}/{key}#{version_id}"


def version_tag(version_id: Optional[str], etag: str) -> str:
    """The version id, or (bucket without versioning) one derived from the content's ETag."""
    if version_id and version_id != UNVERSIONED:
        return version_id
    return "etag-" + etag.strip('"')


def uploaded_at(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Ledger:
    """The ledger on a DynamoDB table (a boto3 ``Table`` resource)."""

    def __init__(self, table):
        self.table = table

    # ----------------------------------------------------------------------- recording
    def record(
        self,
        version: FileVersion,
        state: str = RECEIVED,
        reason: Optional[str] = None,
        recorded_by: Optional[dict] = None,
    ) -> bool:
        """Records an upload once (RECEIVED, or IGNORED with the reason), with who recorded it
        (the Lambda invocation: request id and log stream, read by ``scripts/trace``); False if
        known."""
        if state not in (RECEIVED, IGNORED):
            raise ValueError(f"a new file version is RECEIVED or IGNORED, not {state}")
        stamp = now_iso()
        item = {
            "file_key": version.file_id,
            "bucket": version.bucket,
            "key": version.key,
            "version_id": version.version_id,
            "etag": version.etag,
            "size": version.size,
            "uploaded_at": version.uploaded_at,
            "upload_order": version.upload_order,
            "dataset": datasets.dataset_of(version.key) or "-",
            "state": state,
            "received_at": stamp,
            "updated_at": stamp,
            "history": [{"state": state, "at": stamp}],
        }
        if version.sequencer:
            item["sequencer"] = version.sequencer
        if reason:
            item["reason"] = reason
        if recorded_by:
            item["recorded_by"] = recorded_by
        try:
            self.table.put_item(Item=item, ConditionExpression=Attr("file_key").not_exists())
            return True
        except ClientError as exc:
            if _conditional_failure(exc):
                return False
            raise

    def get(self, file_key: str) -> Optional[dict]:
        return self.table.get_item(Key={"file_key": file_key}, ConsistentRead=True).get("Item")

    def get_many(self, file_keys: Sequence[str]) -> List[dict]:
        """Items in the order asked; a missing one raises (the caller named a file we never saw)."""
        found = {}
        for key in file_keys:
            item = self.get(key)
            if item is None:
                raise KeyError(f"{key} is not in the file ledger")
            found[key] = item
        return [found[k] for k in file_keys]

    # ---------------------------------------------------------------------- transitions
    def move(self, file_key: str, target: str, batch_id: str, **attributes) -> dict:
        """Moves a file of ``batch_id`` to ``target`` from the state before it; returns the item.

        Idempotent: a file of this batch in ``target`` or past it is returned as it is (a
        retried or rerun stage). Anything else (another batch's file, a state out of order) raises
        TransitionRefused, and the table is unchanged."""
        sources = [source for source in TRANSITIONS if can_move(source, target)]
        if not sources:
            raise ValueError(f"nothing moves to {target}")
        stamp = now_iso()
        names = {"#s": "state", "#h": "history"}
        values = {
            ":t": target,
            ":b": batch_id,
            ":now": stamp,
            ":h": [{"state": target, "at": stamp, "batch_id": batch_id}],
        }
        sets = ["#s = :t", "updated_at = :now", "#h = list_append(if_not_exists(#h, :empty), :h)"]
        values[":empty"] = []
        for index, (name, value) in enumerate(sorted(attributes.items())):
            names[f"#a{index}"] = name
            values[f":a{index}"] = value
            sets.append(f"#a{index} = :a{index}")
        source_names = []
        for index, source in enumerate(sources):
            values[f":from{index}"] = source
            source_names.append(f":from{index}")
        condition = f"#s IN ({', '.join(source_names)})"
        if target == CLAIMED:
            sets.append("batch_id = :b")
            sets.append("claimed_at = :now")
        else:
            condition += " AND batch_id = :b"
        try:
            return self.table.update_item(
                Key={"file_key": file_key},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if not _conditional_failure(exc):
                raise
        current = self.get(file_key)
        if current and current.get("batch_id") == batch_id and reached(current["state"], target):
            return current
        raise TransitionRefused(
            f"{file_key}: cannot move to {target} for batch {batch_id}; it is "
            f"{current.get('state') if current else 'unknown'}"
            f"{' of batch ' + str(current.get('batch_id')) if current and current.get('batch_id') else ''}"
        )

    def claim(
        self,
        batch_id: str,
        limit: int,
        first: Iterable[str] = (),
        candidates: Optional[Iterable[str]] = None,
        lease: Optional[Lease] = None,
        bucket: Optional[str] = None,
    ) -> List[dict]:
        """Claims files for a batch: those it already holds (a retried claim), then ``first``
        (the triggering files), then ``candidates`` (default: every RECEIVED file of ``bucket``,
        the raw bucket whose rows the run counts, oldest upload first), up to ``limit`` new ones.
        A file another batch claimed first is skipped. A file released from a failed run carries
        a smaller ``batch_limit``: no batch holding it takes more files than that, so a file that
        breaks its run is soon tried alone. ``lease`` names the run holding the claims."""
        claimed = {
            i["file_key"]: i for i in self.in_state(CLAIMED) if i.get("batch_id") == batch_id
        }
        pool = list(first) + list(
            candidates
            if candidates is not None
            else (i["file_key"] for i in self.in_state(RECEIVED, bucket))
        )
        # the batch's size bound: the smallest batch_limit among its files
        limits = [_batch_limit(i) for i in claimed.values()]
        size_cap = min([n for n in limits if n is not None], default=None)
        taken = 0
        held = dict(lease.attributes()) if lease else {}
        for key in dict.fromkeys(pool):
            if taken >= limit or (size_cap is not None and len(claimed) >= size_cap):
                break
            if key in claimed:
                continue
            try:
                item = self.move(key, CLAIMED, batch_id, **held)
            except TransitionRefused:
                continue  # claimed by another run, or not pending any more
            own_limit = _batch_limit(item)
            if own_limit is not None and len(claimed) >= own_limit:
                self._unclaim(item, batch_id)  # a released file that needs a smaller batch
                continue
            claimed[key] = item
            if own_limit is not None:
                size_cap = own_limit if size_cap is None else min(size_cap, own_limit)
            taken += 1
        return sorted(claimed.values(), key=lambda i: (i["upload_order"], i["file_key"]))

    def _unclaim(self, item: dict, batch_id: str) -> None:
        """Gives back a file just claimed (it would make the batch too large for it)."""
        try:
            self.table.update_item(
                Key={"file_key": item["file_key"]},
                UpdateExpression="SET #s = :r REMOVE batch_id, " + ", ".join(LEASE_ATTRIBUTES),
                ConditionExpression="#s = :c AND batch_id = :b",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":r": RECEIVED, ":c": CLAIMED, ":b": batch_id},
            )
        except ClientError as exc:
            if not _conditional_failure(exc):
                raise

    def release(
        self,
        item: dict,
        reason: str,
        attempts_allowed: int,
        batch_size: int,
        suspect: bool = True,
    ) -> str:
        """Takes a held file back from its (dead) run: RECEIVED with one attempt more, or FAILED
        with the step and the reason once ``attempts_allowed`` are used. A ``suspect`` file (its
        run failed or overran: one of its files may be the cause) has its next batch hold at
        most half as many files as this one, and its last attempt runs alone. Conditional on the
        state and batch read: a run that moved the file meanwhile wins. The state it is in now."""
        attempts = int(item.get(ATTEMPTS, 0)) + 1
        step = NEXT_STEP.get(item["state"], item["state"])
        noted = item.get("last_error") or {}
        if noted.get("batch_id") == item.get("batch_id"):  # what the step itself reported
            step, reason = noted["step"], f"{reason}; {noted['error']}"
        failure = {
            "batch_id": item.get("batch_id"),
            "step": step,
            "reason": reason,
            "at": now_iso(),
        }
        target = FAILED if attempts >= attempts_allowed else RECEIVED
        names = {"#s": "state", "#h": "history", "#e": FAILURES}
        values = {
            ":t": target,
            ":from": item["state"],
            ":b": item.get("batch_id"),
            ":n": attempts,
            ":now": failure["at"],
            ":h": [{"state": target, "at": failure["at"], "reason": reason}],
            ":e": [failure],
            ":empty": [],
        }
        sets = [
            "#s = :t",
            f"{ATTEMPTS} = :n",
            "updated_at = :now",
            "#h = list_append(if_not_exists(#h, :empty), :h)",
            "#e = list_append(if_not_exists(#e, :empty), :e)",
        ]
        if suspect or attempts >= attempts_allowed - 1:
            values[":limit"] = retry_batch_limit(batch_size, attempts, attempts_allowed)
            sets.append(f"{BATCH_LIMIT} = :limit")
        removes = list(LEASE_ATTRIBUTES)
        if target == FAILED:
            names["#r"] = "reason"
            values[":r"] = f"{step} failed {attempts} time(s); last: {reason}"
            sets += ["#r = :r", "failed_step = :step"]
            values[":step"] = step
        else:
            removes.append("batch_id")
        try:
            self.table.update_item(
                Key={"file_key": item["file_key"]},
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes),
                ConditionExpression="#s = :from AND batch_id = :b",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
            return target
        except ClientError as exc:
            if not _conditional_failure(exc):
                raise
        current = self.get(item["file_key"]) or {}
        return current.get("state", "unknown")

    def note_error(self, file_key: str, batch_id: str, step: str, error: BaseException) -> None:
        """Records why a step could not decide a file (kept for the sweeper's reason), leaving
        its state alone: the run goes on with the batch's other files."""
        text = f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]
        try:
            self.table.update_item(
                Key={"file_key": file_key},
                UpdateExpression="SET last_error = :e",
                ConditionExpression="batch_id = :b",
                ExpressionAttributeValues={
                    ":e": {"step": step, "error": text, "batch_id": batch_id, "at": now_iso()},
                    ":b": batch_id,
                },
            )
        except ClientError as exc:
            if not _conditional_failure(exc):
                raise

    def retry_failed(self, file_key: str) -> bool:
        """FAILED -> RECEIVED with its attempts reset (``scripts/retry``); False if not FAILED."""
        stamp = now_iso()
        try:
            self.table.update_item(
                Key={"file_key": file_key},
                UpdateExpression=(
                    "SET #s = :r, updated_at = :now, #h = list_append(#h, :h) "
                    f"REMOVE batch_id, {ATTEMPTS}, {BATCH_LIMIT}, #reason, failed_step"
                ),
                ConditionExpression="#s = :f",
                ExpressionAttributeNames={"#s": "state", "#h": "history", "#reason": "reason"},
                ExpressionAttributeValues={
                    ":r": RECEIVED,
                    ":f": FAILED,
                    ":now": stamp,
                    ":h": [{"state": RECEIVED, "at": stamp, "reason": "retried by request"}],
                },
            )
            return True
        except ClientError as exc:
            if _conditional_failure(exc):
                return False
            raise

    # --------------------------------------------------------------------------- queries
    def in_state(self, state: str, bucket: Optional[str] = None) -> List[dict]:
        """Files in ``state``, oldest upload first (the index is eventually consistent)."""
        query = {"IndexName": STATE_INDEX, "KeyConditionExpression": Key("state").eq(state)}
        if bucket:
            query["FilterExpression"] = Attr("bucket").eq(bucket)
        return aws.all_items(self.table.query, **query)

    def processed_items(self, bucket: str) -> List[dict]:
        """Every version of ``bucket`` whose rows were processed (PROCESSED or later), read from
        the table itself with strongly consistent reads: this decides what the KPIs count, and
        the state index may lag a write just made (by this very job, in AWS)."""
        return self.scan_states(COUNTED, bucket)

    def scan_states(self, states: Sequence[str], bucket: Optional[str] = None) -> List[dict]:
        """Items in any of ``states`` (oldest upload first), by a consistent scan of the table."""
        condition = Attr("state").is_in(list(states))
        if bucket:
            condition = condition & Attr("bucket").eq(bucket)
        items = aws.all_items(self.table.scan, FilterExpression=condition, ConsistentRead=True)
        return sorted(items, key=lambda i: (i.get("upload_order", ""), i["file_key"]))

    def counted_versions(self, bucket: str) -> Dict[str, dict]:
        return counted_versions(self.processed_items(bucket))

    # -------------------------------------------------------------- the realtime trigger
    def request_run(self, run_id: str, stale_after_seconds: float) -> bool:
        """Takes the "a realtime run is waiting" flag; False while another run holds it (and is
        younger than ``stale_after_seconds``: a trigger that died must not block the next)."""
        now = time.time()
        try:
            self.table.put_item(
                Item={
                    "file_key": RUN_REQUEST_ID,
                    "run_id": run_id,
                    "requested_epoch": int(now),
                    "requested_at": now_iso(),
                },
                ConditionExpression=Attr("file_key").not_exists()
                | Attr("requested_epoch").lt(int(now - stale_after_seconds)),
            )
            return True
        except ClientError as exc:
            if _conditional_failure(exc):
                return False
            raise

    def run_request(self) -> Optional[dict]:
        """The flag's item (``run_id``, ``requested_epoch``), or None when no run is waiting."""
        return self.get(RUN_REQUEST_ID)

    def release_run_request(self, run_id: Optional[str] = None) -> None:
        """Drops the flag (a run starts claiming, or its trigger failed). With ``run_id``, only
        if that run still holds it."""
        kwargs = {"ConditionExpression": Attr("run_id").eq(run_id)} if run_id else {}
        try:
            self.table.delete_item(Key={"file_key": RUN_REQUEST_ID}, **kwargs)
        except ClientError as exc:
            if not _conditional_failure(exc):
                raise


def counted_versions(processed: Iterable[dict]) -> Dict[str, dict]:
    """key -> the item of the version whose rows count: of the versions whose rows were
    processed, the newest *upload* (a correction replaces; a late old one does not)."""
    current: Dict[str, dict] = {}
    for item in processed:
        best = current.get(item["key"])
        if best is None or item["upload_order"] > best["upload_order"]:
            current[item["key"]] = item
    return current


def _batch_limit(item: dict) -> Optional[int]:
    return int(item[BATCH_LIMIT]) if item.get(BATCH_LIMIT) is not None else None


def _conditional_failure(exc: ClientError) -> bool:
    return aws.error_code(exc) == "ConditionalCheckFailedException"


# ------------------------------------------------------------------------------ discovery
class MalformedRecord(ValueError):
    """An event record that does not describe an S3 object version."""


def version_from_event(record: dict) -> FileVersion:
    """The upload an S3 event record describes (keys arrive URL-encoded, as in AWS); raises
    MalformedRecord, saying what is wrong, for anything else."""
    from urllib.parse import unquote_plus

    try:
        obj, bucket = record["s3"]["object"], record["s3"]["bucket"]["name"]
        key, etag = obj["key"], obj.get("eTag") or ""
        version_id, sequencer = obj.get("versionId"), obj.get("sequencer") or ""
        texts = {"bucket name": bucket, "object key": key, "eTag": etag, "sequencer": sequencer}
        for name, value in texts.items():
            if not isinstance(value, str):
                raise TypeError(f"{name} is not a string")
        if not bucket or not key:
            raise ValueError("empty bucket name or object key")
        if not isinstance(version_id, (str, type(None))) or not (version_id or etag.strip('"')):
            raise ValueError("neither a versionId nor an eTag names the version")
        size = obj.get("size") or 0
        if isinstance(size, bool) or not isinstance(size, (int, str)) or int(size) < 0:
            raise ValueError(f"size {size!r} is not a byte count")
        moment = record.get("eventTime")
        if moment is not None and not isinstance(moment, str):
            raise TypeError("eventTime is not a string")
        when = datetime.fromisoformat(moment.replace("Z", "+00:00")) if moment else None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        problem = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise MalformedRecord(f"not an S3 object record ({problem}): {str(record)[:200]}") from None
    if when is None:
        when = datetime.now(timezone.utc)
    elif when.tzinfo is None:  # S3 sends UTC with a Z; a bare time is taken as UTC too
        when = when.replace(tzinfo=timezone.utc)
    return FileVersion(
        bucket=bucket,
        key=unquote_plus(key),
        version_id=version_tag(version_id, etag),
        etag=etag.strip('"'),
        size=int(size),
        uploaded_at=uploaded_at(when),
        sequencer=sequencer,
    )


def record_upload(
    ledger: Ledger, version: FileVersion, recorded_by: Optional[dict] = None
) -> tuple:
    """Records an upload as RECEIVED, or IGNORED with the reason; (state, newly recorded)."""
    _dataset, problem = datasets.dataset_and_problem(version.key)
    state = IGNORED if problem else RECEIVED
    return state, ledger.record(version, state, problem, recorded_by)


def discover(
    s3, ledger: Ledger, bucket: str, min_age_seconds: float = 0, prefixes: Sequence[str] = ("",)
) -> List[FileVersion]:
    """Records every version in the bucket that the ledger does not know yet (a lost event, an
    upload while notifications were off); returns the ones newly recorded. Versions younger than
    ``min_age_seconds`` are left to the realtime trigger."""
    cutoff = time.time() - min_age_seconds
    found: List[FileVersion] = []
    for prefix in prefixes:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Versions", []):
                if obj["LastModified"].timestamp() > cutoff:
                    continue
                found.append(
                    FileVersion(
                        bucket=bucket,
                        key=obj["Key"],
                        version_id=version_tag(obj.get("VersionId"), obj["ETag"]),
                        etag=obj["ETag"].strip('"'),
                        size=int(obj["Size"]),
                        uploaded_at=uploaded_at(obj["LastModified"]),
                        listed_latest=bool(obj.get("IsLatest")),
                    )
                )
    known = _existing(ledger.table, [v.file_id for v in found])
    return [v for v in found if v.file_id not in known and record_upload(ledger, v)[1]]


def _existing(table, file_keys: List[str]) -> set:
    """Which of the keys the table holds (BatchGetItem, 100 at a time)."""
    existing: set = set()
    client = table.meta.client
    for start in range(0, len(file_keys), 100):
        request = {
            table.name: {
                "Keys": [{"file_key": k} for k in file_keys[start : start + 100]],
                "ProjectionExpression": "file_key",
            }
        }
        while request:
            reply = client.batch_get_item(RequestItems=request)
            existing.update(i["file_key"] for i in reply["Responses"].get(table.name, []))
            request = reply.get("UnprocessedKeys") or None
    return existing
