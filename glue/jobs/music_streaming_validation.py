"""Glue Python shell job ``music_streaming_validation``: checks the CSV file versions of one batch.

Arguments: ``job_args.ValidationArgs``.

Each version the batch claimed in the file ledger is streamed from S3 (that version, not whatever
sits under its key now) and checked. A valid one is copied to the archive bucket under a key that
names its version, the copy verified (size + CRC32), and marked VALIDATED with the copy's
VersionId: the ETL job reads that version, which no later write over the key can change. An
invalid one is copied to the quarantine bucket with its reasons, verified, marked QUARANTINED,
and only then deleted from raw. Writes validation_results/batch_id={batch_id}/
validation_report.json, publishes DataValidation/Metrics ValidationSuccess (1/0), and exits 1
when the batch is invalid unless fail_on_invalid is false.
A retry finds the files it already decided in the ledger and reports them as decided.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from music_streaming import aws, config, datasets, layout
from music_streaming import ledger as file_ledger
from music_streaming.job_args import ValidationArgs
from music_streaming.validation import INVALID, VALID, batch_report, validate_csv

log = logging.getLogger("music_streaming_validation")
CHUNK_BYTES = 1024 * 1024
# What the ledger keeps of a verdict, so a retried run reports a decided file without re-reading it.
KEPT_IN_LEDGER = ("errors", "columns", "row_count", "bad_row_count", "bad_rows_by_reason")


def entry_from_ledger(item: dict) -> dict:
    """The report entry of a file decided earlier (a retried run)."""
    valid = item["state"] != file_ledger.QUARANTINED
    entry = {
        "key": item["key"],
        "version_id": item["version_id"],
        "file_id": item["file_key"],
        "dataset": item.get("dataset"),
        "status": VALID if valid else INVALID,
        "upload_order": item["upload_order"],
        "bytes": int(item["size"]),
        "crc32": int(item["crc32"]) if item.get("crc32") is not None else None,
        "copy": item.get("archive_copy"),
        "copy_version": item.get("archive_version"),
        "quarantined_to": item.get("quarantined_to"),
    }
    for name in KEPT_IN_LEDGER:
        value = item.get(name)
        entry[name] = json.loads(json.dumps(value, default=int)) if value is not None else None
    return entry


def check_version(s3, item: dict, max_bad_row_ratio: float) -> dict:
    """Streams one version from raw and checks it; the report entry."""
    source = aws.version_source(item["bucket"], item["key"], item["version_id"])
    base = {
        "version_id": item["version_id"],
        "file_id": item["file_key"],
        "upload_order": item["upload_order"],
        "copy": None,
        "copy_version": None,
        "quarantined_to": None,
    }
    try:
        body = s3.get_object(**source)["Body"]
    except s3.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] not in ("NoSuchKey", "NoSuchVersion", "404"):
            raise
        return {
            **base,
            "key": item["key"],
            "dataset": datasets.dataset_of(item["key"]),
            "status": INVALID,
            "errors": ["this version is no longer in the raw bucket"],
            "bytes": 0,
            "crc32": None,
            "columns": [],
            "row_count": 0,
            "bad_row_count": 0,
            "bad_rows_by_reason": {},
        }
    with body:
        report = validate_csv(
            item["key"], body.iter_chunks(CHUNK_BYTES), max_bad_row_ratio=max_bad_row_ratio
        )
    return {**report, **base}


def keep_valid(s3, ledger, item: dict, entry: dict, args: ValidationArgs) -> None:
    """Valid: a verified copy in the archive, then VALIDATED with the copy's version (the ETL job
    reads that version, so nothing written over the key later changes what it reads)."""
    archive = args.archive_bucket
    target = layout.archive_key(item["dataset"], item["file_key"], item["key"], item["uploaded_at"])
    entry["copy_version"] = aws.copy_version_verified(
        s3,
        aws.version_source(item["bucket"], item["key"], item["version_id"]),
        item["etag"],
        entry["bytes"],
        entry["crc32"],
        archive,
        target,
        write_once=True,
    )
    entry["copy"] = layout.s3_url(archive, target)
    ledger.move(
        item["file_key"],
        file_ledger.VALIDATED,
        args.batch_id,
        archive_copy=entry["copy"],
        archive_version=entry["copy_version"],
        crc32=entry["crc32"],
        **{k: entry[k] for k in KEPT_IN_LEDGER},
    )


def quarantine(s3, ledger, item: dict, entry: dict, args: ValidationArgs) -> None:
    """Invalid: reasons and a verified copy in quarantine, QUARANTINED, then deleted from raw."""
    batch_id, quarantine_bucket = args.batch_id, args.quarantine_bucket
    source = aws.version_source(item["bucket"], item["key"], item["version_id"])
    reason = "; ".join(entry["errors"])
    if entry["crc32"] is not None and quarantine_bucket:
        target = layout.quarantine_key(batch_id, item["key"], item["version_id"])
        aws.write_json(
            s3,
            quarantine_bucket,
            target + ".reason.json",
            {
                "batch_id": batch_id,
                "source": item["file_key"],
                "errors": entry["errors"],
                "report": entry,
            },
        )
        # S3 metadata is ASCII: the full reason is in the JSON beside the file.
        aws.copy_version_verified(
            s3,
            source,
            item["etag"],
            entry["bytes"],
            entry["crc32"],
            quarantine_bucket,
            target,
            metadata={
                "reason": reason.encode("ascii", "replace").decode()[:1024],
                "batch_id": batch_id,
            },
        )
        entry["quarantined_to"] = layout.s3_url(quarantine_bucket, target)
    ledger.move(
        item["file_key"],
        file_ledger.QUARANTINED,
        batch_id,
        quarantined_to=entry["quarantined_to"] or "-",
        crc32=entry["crc32"],
        **{k: entry[k] for k in KEPT_IN_LEDGER},
    )
    if entry["quarantined_to"]:
        aws.delete_version(s3, source)
    log.warning("quarantined %s to %s: %s", item["file_key"], entry["quarantined_to"], reason)


def decide(s3, ledger, item: dict, args: ValidationArgs) -> dict:
    """The report entry of one claimed file, acting on it once (retries find it decided)."""
    if item.get("batch_id") != args.batch_id:
        raise file_ledger.TransitionRefused(
            f"{item['file_key']} belongs to batch {item.get('batch_id')}, not {args.batch_id}"
        )
    if item["state"] == file_ledger.QUARANTINED:  # decided; make sure raw let go of it
        if item.get("quarantined_to", "-") != "-":
            aws.delete_version(
                s3, aws.version_source(item["bucket"], item["key"], item["version_id"])
            )
        return entry_from_ledger(item)
    if item["state"] != file_ledger.CLAIMED:
        return entry_from_ledger(item)
    entry = check_version(s3, item, args.max_bad_row_ratio)
    if entry["status"] == VALID:
        keep_valid(s3, ledger, item, entry, args)
    else:
        quarantine(s3, ledger, item, entry, args)
    return entry


def run(argv: list[str]) -> int:
    now = datetime.now(timezone.utc)
    args = ValidationArgs.from_argv(argv).for_run(now)
    raw, batch_id, region = args.raw_data_bucket, args.batch_id, args.aws_region
    s3 = aws.client("s3", region)
    aws.require_versioning(s3, raw)
    # the archive's copies are read by version: an overwrite must add a version, not replace one
    aws.require_versioning(s3, args.archive_bucket)
    ledger = file_ledger.Ledger(
        aws.resource("dynamodb", region).Table(config.file_tracker_table(args.dynamodb_table_name))
    )
    files = list(args.files)
    if args.files_manifest:  # a list too long for Glue's job arguments
        files = aws.read_json(s3, *layout.split_s3_url(args.files_manifest))
    if files:
        items = ledger.get_many(files)
    else:  # run on its own: take what is pending, as a DAG's claim step would
        file_ledger.discover(s3, ledger, raw)
        items = ledger.claim(batch_id, args.max_files)
    log.info("validating %d file version(s) of batch %s", len(items), batch_id)

    entries = []
    for item in items:
        try:
            entries.append(decide(s3, ledger, item, args))
        except Exception as exc:  # one file's failure never holds the others back
            # left CLAIMED with the error noted: the sweeper takes it back from the ended run
            log.exception("could not decide %s", item["file_key"])
            ledger.note_error(item["file_key"], batch_id, "validation", exc)
    for entry in entries:
        log.info(
            "%s (version %s): %s %s",
            entry["key"],
            entry["version_id"],
            entry["status"],
            "; ".join(entry["errors"] or []),
        )
    report = batch_report(batch_id, raw, entries, now.isoformat())
    report_key = layout.validation_report_key(batch_id)
    aws.write_json(s3, args.processed_bucket, report_key, report)
    log.info(
        "batch %s is %s (%s); report s3://%s/%s",
        batch_id,
        report["status"],
        report["summary"],
        args.processed_bucket,
        report_key,
    )

    valid = report["status"] != INVALID
    aws.put_metrics(
        aws.client("cloudwatch", region),
        "DataValidation/Metrics",
        {"ValidationSuccess": 1 if valid else 0, "InvalidFiles": len(report["invalid_files"])},
    )
    if not valid and args.fail_on_invalid:
        return 1
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sys.exit(run(sys.argv))
