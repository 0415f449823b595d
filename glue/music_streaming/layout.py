"""Where the pipeline keeps things in its buckets: one function per kind of object."""

from __future__ import annotations

import hashlib
import re

_UNSAFE_RUN_ID_CHARS = re.compile(r"[^A-Za-z0-9_.~:+-]")
MAX_RUN_ID_LENGTH = 250


def batch_id_for(bucket: str, key: str, timestamp: str) -> str:
    """``batch-<bucket>-<key, / as ->-<timestamp>``, safe as an Airflow run id (the designs'
    format; the Lambda and a run that starts the next batch both name batches so)."""
    batch_id = _UNSAFE_RUN_ID_CHARS.sub("-", f"batch-{bucket}-{key.replace('/', '-')}-{timestamp}")
    if len(batch_id) > MAX_RUN_ID_LENGTH:  # keep the distinctive end: key tail and time
        batch_id = "batch-" + batch_id[-(MAX_RUN_ID_LENGTH - 6) :]
    return batch_id


PROCESSED_DATA_PREFIX = "processed_data/"
REFERENCE_PREFIX = "reference/"
KPIS_PREFIX = "kpis/"


def validation_report_key(batch_id: str) -> str:
    return f"validation_results/batch_id={batch_id}/validation_report.json"


def files_manifest_key(batch_id: str) -> str:
    return f"manifests/batch_id={batch_id}/files.json"


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


# What Hadoop's path parser and glob leave alone: a copy under such a name is read literally.
_NOT_PATH_SAFE = re.compile(r"[^A-Za-z0-9._-]")
MAX_COPY_NAME = 100


def archive_key(dataset: str, file_id: str, raw_key: str, uploaded_at: str) -> str:
    """``archive/YYYY/MM/DD/{dataset}/{digest}-{name}`` for one file version (the upload's day).

    Spark reads these copies, and Hadoop takes a name as a path and a pattern (``..``, ``//``,
    ``[ ] { } * ?``, ``%``, ``+``): so the copy is named by a digest of the file id (unique per
    version: a re-upload never overwrites an earlier copy) followed by the key's last part with
    every other character replaced, for people reading a listing. The ledger keeps the mapping."""
    digest = hashlib.sha256(file_id.encode("utf-8")).hexdigest()[:32]
    name = _NOT_PATH_SAFE.sub("_", raw_key.rsplit("/", 1)[-1])[-MAX_COPY_NAME:]
    year, month, day = uploaded_at[:10].split("-")
    folder = _NOT_PATH_SAFE.sub("_", dataset) or "-"
    return f"archive/{year}/{month}/{day}/{folder}/{digest}-{name}".rstrip("-")


def quarantine_key(batch_id: str, raw_key: str, version_id: str) -> str:
    return f"batch_id={batch_id}/version={version_id}/{raw_key}"


def s3_url(bucket: str, key: str = "") -> str:
    return f"s3://{bucket}/{key}"


def split_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://bucket/key``, the inverse of ``s3_url``."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key
