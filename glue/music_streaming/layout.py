"""Where the pipeline keeps things in its buckets: one function per kind of object."""
from __future__ import annotations

PROCESSED_DATA_PREFIX = "processed_data/"
REFERENCE_PREFIX = "reference/"
KPIS_PREFIX = "kpis/"


def validation_report_key(batch_id: str) -> str:
    return f"validation_results/batch_id={batch_id}/validation_report.json"


def processed_batch_prefix(processing_date: str, batch_id: str) -> str:
    return f"{PROCESSED_DATA_PREFIX}date={processing_date}/batch_id={batch_id}/"


def reference_prefix(dataset: str) -> str:
    return f"{REFERENCE_PREFIX}{dataset}/"


def reference_batch_prefix(dataset: str, batch_id: str) -> str:
    return f"{reference_prefix(dataset)}batch_id={batch_id}/"


def kpi_results_key(batch_id: str) -> str:
    return f"{KPIS_PREFIX}batch_id={batch_id}/kpis.json"


def etl_summary_key(batch_id: str) -> str:
    return f"etl_results/batch_id={batch_id}/summary.json"


def archive_key(processing_date: str, raw_key: str) -> str:
    """``archive/YYYY/MM/DD/{raw key}`` for a processing date ``YYYY-MM-DD``."""
    year, month, day = processing_date.split("-")
    return f"archive/{year}/{month}/{day}/{raw_key}"


def quarantine_key(batch_id: str, raw_key: str) -> str:
    return f"batch_id={batch_id}/{raw_key}"


def s3_url(bucket: str, key: str = "") -> str:
    return f"s3://{bucket}/{key}"
