"""The three tasks of the Glue job ``music_streaming_etl_complete`` (arguments: ``job_args.EtlArgs``).

- full_etl: reads the versions the batch validated (the verified copies, by VersionId; each
  file's header matched by name), keeps songs/users as reference rows, writes the batch's streams
  joined with the reference as Parquet to
  processed_data/date={processing_date}/batch_id={batch_id}/ partitioned by genre (a rerun
  replaces it), registers what it wrote as partitions of the Data Catalog's tables (with
  --catalog_database), marks the files PROCESSED in the file ledger, then recomputes the KPIs of
  every day the batch touches over the rows that count (of each key, its newest processed
  upload: a correction replaces the rows of the version it supersedes) and stores them, with a
  snapshot version, under kpis/batch_id={batch_id}/.
- dynamodb_only: writes that snapshot to DynamoDB, monotonically (kpi_snapshot), then marks the
  batch's files KPIS_WRITTEN.
- archiving_only: for each file whose KPIs are written, verifies its archived copy (the version
  read), tags that version ARCHIVED (only then may it go cold), marks it ARCHIVED and only then
  deletes its version from raw (a crash in between is repaired by a rerun).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone

from music_streaming import (
    aws,
    config,
    datasets,
    dynamo_items,
    etl_decisions,
    kpi_snapshot,
    layout,
    spark_io,
)
from music_streaming import etl_steps as steps
from music_streaming import ledger as file_ledger
from music_streaming.job_args import EtlArgs

log = logging.getLogger("music_streaming_etl")


@contextmanager
def timed(step_seconds: dict, step: str):
    """Records how long a step took (read by the stack benchmark)."""
    started = time.monotonic()
    yield
    step_seconds[step] = round(time.monotonic() - started, 2)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def ledger_of(args: EtlArgs) -> file_ledger.Ledger:
    return file_ledger.Ledger(
        aws.resource("dynamodb", args.aws_region).Table(
            config.file_tracker_table(args.dynamodb_table_name)
        )
    )


def full_etl(spark, s3, args: EtlArgs) -> dict:
    report = aws.read_json(s3, args.processed_bucket, layout.validation_report_key(args.batch_id))
    valid = [f for f in report["files"] if f["status"] == "valid"]
    if not valid:
        raise RuntimeError(f"batch {args.batch_id} has no valid file: {report['summary']}")
    if report["invalid_files"]:  # quarantined by validation; the valid files go on
        log.warning("batch %s: skipping invalid files %s", args.batch_id, report["invalid_files"])
    by_dataset = defaultdict(list)
    for entry in valid:
        if not entry.get("copy_version"):  # validated before copies were read by version
            entry["copy_version"] = aws.current_version(s3, *layout.split_s3_url(entry["copy"]))
        by_dataset[entry["dataset"]].append(entry)
    ledger, seconds, files = ledger_of(args), {}, {}
    fetch = spark_io.version_reader(args.aws_region)  # each copy by the version verified

    def mark_processed(entries, index: dict):
        """PROCESSED, with what the index records of each file (by file id)."""
        for entry in entries:
            ledger.move(
                entry["file_id"], file_ledger.PROCESSED, args.batch_id, **index[entry["file_id"]]
            )

    def current_reference(counted: dict) -> dict:
        return {
            dataset: steps.load_reference(
                spark, s3, args.processed_bucket, dataset, counted
            ).cache()
            for dataset in datasets.REFERENCE_DATASETS
        }

    with timed(seconds, "reference"):
        for dataset in datasets.REFERENCE_DATASETS:
            if by_dataset[dataset]:
                path, per_file = steps.store_reference(
                    spark, args, dataset, by_dataset[dataset], fetch
                )
                files.update(per_file)
                steps.register_partitions(args, s3, dataset, path)
                # the reference index (etl_decisions): the batch path holding these rows
                mark_processed(
                    by_dataset[dataset],
                    {e["file_id"]: {etl_decisions.PROCESSED_TO: path} for e in by_dataset[dataset]},
                )
        # the reference the batch's rows are written with (genre partition, names); the KPIs
        # re-read it after the snapshot instant
        reference = current_reference(ledger.counted_versions(args.raw_data_bucket))
    touched: set = set()  # ISO dates
    with timed(seconds, "batch_streams"):
        if by_dataset[datasets.STREAMS]:
            batch_path = layout.s3_url(
                args.processed_bucket,
                layout.processed_batch_prefix(args.processing_date, args.batch_id),
            )
            per_file, file_days = steps.write_batch_streams(
                spark,
                batch_path,
                by_dataset[datasets.STREAMS],
                fetch,
                reference[datasets.SONGS],
                reference[datasets.USERS],
            )
            files.update(per_file)
            steps.register_partitions(args, s3, datasets.STREAMS, batch_path)
            # the listen-date index (etl_decisions): where this file's rows lie, and on which days
            mark_processed(
                by_dataset[datasets.STREAMS],
                {
                    file_id: {
                        etl_decisions.LISTEN_DATES: sorted(days),
                        etl_decisions.PROCESSED_TO: batch_path,
                    }
                    for file_id, days in file_days.items()
                },
            )
            touched = set().union(*file_days.values())
    # Everything this batch contributes is committed (Parquet + PROCESSED): a snapshot versioned
    # after this instant, by any run, includes it; and what this one reads from now on includes
    # every batch committed before it (its rows and its reference).
    snapshot_version = int(time.time() * 1000)
    processed = ledger.processed_items(args.raw_data_bucket)
    current = file_ledger.counted_versions(processed)
    # one current reference for both steps below (computed once, when first used)
    reference = current_reference(current)
    with timed(seconds, "days_touched"):
        touched |= steps.days_to_recompute(spark, s3, args, by_dataset, processed, reference)
    with timed(seconds, "kpis"):
        rows = steps.day_kpis(
            spark,
            args.processed_bucket,
            touched,
            current,
            reference[datasets.SONGS],
            reference[datasets.USERS],
        )
    days = sorted(touched)
    aws.write_json(
        s3,
        args.processed_bucket,
        layout.kpi_results_key(args.batch_id),
        {
            "batch_id": args.batch_id,
            "snapshot_version": snapshot_version,
            "touched_days": days,
            **rows,
        },
    )
    summary = {
        "batch_id": args.batch_id,
        "processing_date": args.processing_date,
        "task_type": args.task_type,
        "files": files,
        "touched_days": days,
        "snapshot_version": snapshot_version,
        "step_seconds": seconds,
        "metrics": etl_decisions.etl_metrics(files, rows["stream_quality"]),
    }
    aws.write_json(s3, args.processed_bucket, layout.etl_summary_key(args.batch_id), summary)
    return summary


# ----------------------------------------------------------------------------- dynamodb_only
def dynamodb_only(_spark, s3, args: EtlArgs) -> dict:
    etl = aws.read_json(s3, args.processed_bucket, layout.etl_summary_key(args.batch_id))
    results = aws.read_json(s3, args.processed_bucket, layout.kpi_results_key(args.batch_id))
    items = dynamo_items.snapshot_items(results)
    writer = kpi_snapshot.SnapshotWriter(
        aws.client("dynamodb", args.aws_region), args.dynamodb_table_name, config.KPI_DATE_INDEX
    )
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcome = writer.write(
            items,
            results["touched_days"],
            int(results["snapshot_version"]),
            executor=pool,
            batch_id=args.batch_id,
        )
    superseded = sorted(
        d for d, (state, _removed) in outcome.items() if state == kpi_snapshot.SUPERSEDED
    )
    removed = sum(n for _state, n in outcome.values())
    log.info(
        "snapshot %s: %d KPI items for %d day(s), %d stale removed; days a newer snapshot "
        "already holds: %s",
        results["snapshot_version"],
        len(items),
        len(outcome),
        removed,
        superseded or "none",
    )
    ledger = ledger_of(args)
    for file_id, info in sorted(etl["files"].items()):
        ledger.move(
            file_id,
            file_ledger.KPIS_WRITTEN,
            args.batch_id,
            row_count=info["rows"],
            rejected_rows=info["rejected_rows"],
            kpis_written_at=now_iso(),
        )
    return {
        "metrics": {"DynamoDBWrites": len(items) + len(etl["files"])},
        "superseded_days": superseded,
    }


# ---------------------------------------------------------------------------- archiving_only
def archive_file(s3, ledger, args: EtlArgs, file_id: str) -> None:
    """KPIS_WRITTEN -> copy verified -> ARCHIVED -> raw version deleted (each step repeatable)."""
    item = ledger.get(file_id)
    if etl_decisions.archive_step(item, args.batch_id, file_id) == etl_decisions.VERIFY_AND_ARCHIVE:
        bucket, key = layout.split_s3_url(item["archive_copy"])
        # the version the ETL read (a file validated before copies were read by version: the
        # version under the key, which the ETL read too)
        version = item.get("archive_version") or aws.current_version(s3, bucket, key)
        aws.verify_copy(s3, bucket, key, int(item["size"]), int(item["crc32"]), version)
        tag_key, tag_value = config.ARCHIVED_TAG  # from now on the copy may go cold
        s3.put_object_tagging(
            Bucket=bucket,
            Key=key,
            Tagging={"TagSet": [{"Key": tag_key, "Value": tag_value}]},
            **aws.version_args(version),
        )
        ledger.move(
            file_id,
            file_ledger.ARCHIVED,
            args.batch_id,
            archived_to=item["archive_copy"],
            archived_at=now_iso(),
        )
    aws.delete_version(s3, aws.version_source(item["bucket"], item["key"], item["version_id"]))


def archiving_only(_spark, s3, args: EtlArgs) -> dict:
    if not args.archive_bucket:
        raise ValueError("archiving_only needs --archive_bucket")
    aws.require_versioning(s3, args.raw_data_bucket)  # deletes name the version, never the key
    etl = aws.read_json(s3, args.processed_bucket, layout.etl_summary_key(args.batch_id))
    ledger, archived, failed = ledger_of(args), 0, []
    for file_id in sorted(etl["files"]):
        try:
            archive_file(s3, ledger, args, file_id)
            archived += 1
        except Exception as exc:  # noqa: BLE001 - every file is tried, failures reported at the end
            log.error("could not archive %s: %s", file_id, exc)
            failed.append({"file": file_id, "error": str(exc)})
    summary = {
        "metrics": {"ArchivedFiles": archived, "FailedFiles": len(failed)},
        "failed_files": failed,
    }
    if failed:
        raise ArchivingFailed(summary)
    return summary


class ArchivingFailed(RuntimeError):
    def __init__(self, summary: dict):
        super().__init__(
            f"{len(summary['failed_files'])} file(s) could not be archived: "
            f"{summary['failed_files']}"
        )
        self.summary = summary


TASKS = {"full_etl": full_etl, "dynamodb_only": dynamodb_only, "archiving_only": archiving_only}
