"""The ETL job's decisions, apart from Spark and AWS so they are unit-tested: which history a
batch must rescan and where that history lies, what archiving does next for a file, the metrics a
batch reports.

The listen-date index: when full_etl marks a stream file PROCESSED it records in the ledger the
days its rows fall on (``listen_dates``) and the batch path holding them (``processed_to``). A
day's recompute then reads only the paths that hold that day, and a correction's days come from
the ledger, so neither grows with history. Files processed before the index (no ``listen_dates``)
make the job fall back to reading all of ``processed_data/``. Songs and users versions record
their batch path too (the reference index), so the current reference is read from the counted
versions' paths only, never from versions a re-upload superseded.

Standard library only (the Python shell and the Spark job both import it).
"""

from __future__ import annotations

from typing import Iterable, List, Mapping, Optional, Set

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


LISTEN_DATES, PROCESSED_TO = "listen_dates", "processed_to"


def _indexed(items: List[Mapping]) -> bool:
    return all(LISTEN_DATES in i and PROCESSED_TO in i for i in items)


def _streams(items: Iterable[Mapping]) -> List[Mapping]:
    return of_dataset(items, datasets.STREAMS)


def corrected_days(processed: Iterable[Mapping], keys: Iterable[str]) -> Optional[Set[str]]:
    """Days holding rows of any processed version of these stream keys (a correction replaces
    them), from the index; None when one of those versions predates it (scan instead)."""
    keys = set(keys)
    versions = [i for i in _streams(processed) if i["key"] in keys]
    if not _indexed(versions):
        return None
    return {day for i in versions for day in i[LISTEN_DATES]}


def paths_holding(counted: Iterable[Mapping], days: Iterable[str]) -> Optional[List[str]]:
    """The batch paths whose counted stream rows fall on any of ``days`` (ISO dates), from the
    index; None when a counted stream version predates it (read all of processed_data/)."""
    streams, days = _streams(counted), set(days)
    if not _indexed(streams):
        return None
    return sorted({i[PROCESSED_TO] for i in streams if days & set(i[LISTEN_DATES])})


def of_dataset(items: Iterable[Mapping], dataset: str) -> List[Mapping]:
    return [i for i in items if i.get("dataset") == dataset]


def reference_paths(versions: Iterable[Mapping]) -> Optional[List[str]]:
    """The batch paths holding these songs/users versions' rows (the reference index: a
    reference read skips superseded versions); None when one predates it (read all)."""
    versions = list(versions)
    if not all(PROCESSED_TO in i for i in versions):
        return None
    return sorted({i[PROCESSED_TO] for i in versions})


def counted_before(batch_id: str, processed: Iterable[Mapping]) -> dict:
    """The versions that would count without this batch: the reference its KPIs changes are
    measured against."""
    return file_ledger.counted_versions(i for i in processed if i.get("batch_id") != batch_id)


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
