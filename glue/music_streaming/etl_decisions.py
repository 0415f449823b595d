"""The ETL job's decisions, apart from Spark and AWS so they are unit-tested: which history a
batch must rescan, what archiving does next for a file, the metrics a batch reports.

Standard library only (the Python shell and the Spark job both import it).
"""

from __future__ import annotations

from typing import Iterable, List, Mapping, Optional

from music_streaming import datasets
from music_streaming import ledger as file_ledger

# What archiving does for a file: verify the archive copy and mark it ARCHIVED, then delete the raw
# version; or (already ARCHIVED, a rerun after a crash) only delete the raw version.
VERIFY_AND_ARCHIVE, DELETE_RAW_ONLY = "verify_and_archive", "delete_raw_only"


def corrected_keys(
    batch_id: str, processed: Iterable[Mapping], batch_stream_keys: Iterable[str]
) -> List[str]:
    """Keys of this batch's stream files that another batch processed before: re-uploads whose
    earlier version's days must be recomputed."""
    earlier = {i["key"] for i in processed if i.get("batch_id") != batch_id}
    return sorted(earlier & set(batch_stream_keys))


def reference_update_needs_scan(batch_id: str, processed: Iterable[Mapping]) -> bool:
    """A songs/users upload changes other days only if another batch processed streams."""
    return any(
        i.get("batch_id") != batch_id and i.get("dataset") == datasets.STREAMS for i in processed
    )


def archive_step(item: Optional[Mapping], batch_id: str, file_id: str) -> str:
    """The next archiving step for a ledger item of ``batch_id``; raises when its KPIs are not
    written yet or another batch owns it (archiving must never outrun the KPIs)."""
    state = item.get("state") if item else None
    owner = item.get("batch_id") if item else None
    if owner != batch_id or state not in (file_ledger.KPIS_WRITTEN, file_ledger.ARCHIVED):
        raise RuntimeError(f"KPIs of {file_id} are not written (state {state}, batch {owner})")
    return VERIFY_AND_ARCHIVE if state == file_ledger.KPIS_WRITTEN else DELETE_RAW_ONLY


def etl_metrics(files: Mapping[str, Mapping], quality: Iterable[Mapping]) -> dict:
    """CloudWatch metrics of a full_etl batch: stream rows kept and rejected, and the streams of
    the recomputed days whose track or user is unknown."""
    streams = [f for f in files.values() if f["dataset"] == datasets.STREAMS]
    quality = list(quality)
    return {
        "ProcessedRecords": sum(f["rows"] - f["rejected_rows"] for f in streams),
        "RejectedRecords": sum(f["rejected_rows"] for f in streams),
        "UnknownTrackStreams": sum(d["unknown_track_streams"] for d in quality),
        "UnknownUserStreams": sum(d["unknown_user_streams"] for d in quality),
    }
