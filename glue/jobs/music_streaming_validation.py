"""Glue Python shell job ``music_streaming_validation``: checks the CSV files of one batch.

Arguments (``--key value``): raw_data_bucket, processed_bucket, [aws_region=us-east-1],
[batch_id=batch-YYYYMMDD-HHMMSS], [quarantine_bucket], [keys: JSON list or comma-separated raw keys;
default every CSV under streams/, songs/, users/], [max_bad_row_ratio=0], [fail_on_invalid=true].

Writes validation_results/batch_id={batch_id}/validation_report.json to the processed bucket,
publishes DataValidation/Metrics ValidationSuccess (1/0), moves each invalid file to the quarantine
bucket (deleting it from raw only after the copy is verified), and exits 1 when the batch is invalid
unless fail_on_invalid is false (the DAG branches on the report instead).
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from music_streaming import aws, datasets, job_args, layout
from music_streaming.validation import INVALID, batch_report, validate_csv

log = logging.getLogger("music_streaming_validation")
CHUNK_BYTES = 1024 * 1024
REQUIRED = ["raw_data_bucket", "processed_bucket"]


def parse_keys(value: str) -> list[str]:
    value = (value or "").strip()
    if not value:
        return []
    keys = json.loads(value) if value.startswith("[") else value.split(",")
    return sorted({k.strip() for k in keys if k.strip()})


def validate_key(s3, bucket: str, key: str, batch_id: str, quarantine_bucket: str,
                 max_bad_row_ratio: float) -> dict:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except s3.exceptions.NoSuchKey:
        previous = quarantine_bucket and aws.head(
            s3, quarantine_bucket, layout.quarantine_key(batch_id, key))
        reason = "not found in the raw bucket"
        if previous:  # a rerun of a batch whose file was already quarantined
            reason = f"quarantined earlier: {previous['Metadata'].get('reason', '')}"
        return {"key": key, "dataset": datasets.dataset_of(key), "status": INVALID,
                "errors": [reason], "quarantined_to": previous and layout.s3_url(
                    quarantine_bucket, layout.quarantine_key(batch_id, key)) or None}
    with body:
        return validate_csv(key, body.iter_chunks(CHUNK_BYTES),
                            max_bad_row_ratio=max_bad_row_ratio)


def quarantine(s3, raw_bucket: str, quarantine_bucket: str, batch_id: str, entry: dict) -> None:
    """Copies the invalid file and its reasons to quarantine; deletes it from raw once verified."""
    target = layout.quarantine_key(batch_id, entry["key"])
    reason = "; ".join(entry["errors"])
    aws.write_json(s3, quarantine_bucket, target + ".reason.json",
                   {"batch_id": batch_id, "source": layout.s3_url(raw_bucket, entry["key"]),
                    "errors": entry["errors"], "report": entry})
    # S3 metadata is ASCII: the full reason is in the JSON beside the file.
    aws.move_verified(s3, raw_bucket, entry["key"], quarantine_bucket, target,
                      metadata={"reason": reason.encode("ascii", "replace").decode()[:1024],
                                "batch_id": batch_id})
    entry["quarantined_to"] = layout.s3_url(quarantine_bucket, target)
    log.warning("quarantined s3://%s/%s to %s: %s", raw_bucket, entry["key"],
                entry["quarantined_to"], reason)


def run(argv: list[str]) -> int:
    now = datetime.now(timezone.utc)
    args = job_args.resolve(argv, REQUIRED, {
        "aws_region": "us-east-1", "batch_id": now.strftime("batch-%Y%m%d-%H%M%S"),
        "quarantine_bucket": "", "keys": "", "max_bad_row_ratio": "0",
        "fail_on_invalid": "true"})
    raw, batch_id = args["raw_data_bucket"], args["batch_id"]
    s3 = aws.client("s3", args["aws_region"])
    keys = parse_keys(args["keys"]) or [
        k for k in aws.list_keys(s3, raw, [f"{d}/" for d in datasets.DATASETS])
        if datasets.dataset_of(k)]
    log.info("validating %d file(s) of batch %s in s3://%s", len(keys), batch_id, raw)

    entries = [validate_key(s3, raw, key, batch_id, args["quarantine_bucket"],
                            float(args["max_bad_row_ratio"])) for key in keys]
    for entry in entries:
        log.info("%s: %s %s", entry["key"], entry["status"], "; ".join(entry["errors"]))
        if entry["status"] == INVALID and args["quarantine_bucket"] \
                and not entry.get("quarantined_to") and aws.head(s3, raw, entry["key"]):
            quarantine(s3, raw, args["quarantine_bucket"], batch_id, entry)

    report = batch_report(batch_id, raw, entries, now.isoformat())
    report_key = layout.validation_report_key(batch_id)
    aws.write_json(s3, args["processed_bucket"], report_key, report)
    log.info("batch %s is %s (%s); report s3://%s/%s", batch_id, report["status"],
             report["summary"], args["processed_bucket"], report_key)

    valid = report["status"] != INVALID
    aws.put_metrics(aws.client("cloudwatch", args["aws_region"]), "DataValidation/Metrics",
                    {"ValidationSuccess": 1 if valid else 0,
                     "InvalidFiles": len(report["invalid_files"])})
    if not valid and args["fail_on_invalid"].lower() == "true":
        return 1
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sys.exit(run(sys.argv))
