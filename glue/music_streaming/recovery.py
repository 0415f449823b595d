"""What the sweeper decides: which held files a dead run stranded, and when the realtime trigger
flag is stale. Pure functions over ledger items and DAG run states, so every rule is unit-tested;
the sweeper DAG (``music_streaming_sweeper``) reads the states and acts on the answers.

A run is dead for its files when it failed, ended without deciding them (success with a file
still held: its lease outlived the run), no longer exists (deleted), or overran its lease. Files
claimed before leases existed carry only ``claimed_at``: their lease is counted from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from music_streaming import ledger as file_ledger

# Airflow's DAG run states in which a run may still act on its files.
LIVE_RUN_STATES = ("queued", "running")
GONE = None  # the state of a run Airflow no longer has

RunRef = Tuple[str, str]  # (dag_id, run_id)


@dataclass(frozen=True)
class Stranded:
    """A dead run's batch: its held files, why they are taken back, and whether one of them
    may be the cause (the run failed or overran; not when it was deleted or simply ended)."""

    batch_id: str
    run: Optional[RunRef]
    reason: str
    items: Tuple[dict, ...]
    suspect: bool


def run_of(item: Mapping) -> Optional[RunRef]:
    if item.get("claimed_by_dag") and item.get("claimed_by_run"):
        return str(item["claimed_by_dag"]), str(item["claimed_by_run"])
    return None


def lease_expiry(item: Mapping, default_lease_seconds: float) -> float:
    """Epoch seconds at which the claim on ``item`` lapses."""
    if item.get("lease_expires_epoch") is not None:
        return float(item["lease_expires_epoch"])
    claimed = item.get("claimed_at") or item.get("updated_at")
    if not claimed:
        return 0.0
    return datetime.fromisoformat(str(claimed)).timestamp() + default_lease_seconds


def why_dead(run: Optional[RunRef], state: Optional[str]) -> Optional[str]:
    """The reason a run no longer holds its files, or None while it may still act on them."""
    if run is None:
        return None  # no run recorded: only the lease decides
    name = f"DAG run {run[0]}/{run[1]}"
    if state is GONE:
        return f"{name} no longer exists (deleted)"
    if state in LIVE_RUN_STATES:
        return None
    if state == "success":
        return f"{name} ended (success) without deciding this file"
    return f"{name} ended {state}"


def stranded_batches(
    held: Iterable[Mapping],
    run_states: Mapping[RunRef, Optional[str]],
    now_epoch: float,
    default_lease_seconds: float,
) -> List[Stranded]:
    """Batches whose held files no live run will move on, oldest batch first. ``run_states``:
    the state of every run named by ``held`` (GONE when Airflow has none)."""
    by_batch: Dict[str, List[Mapping]] = {}
    for item in held:
        if item.get("state") in file_ledger.HELD and item.get("batch_id"):
            by_batch.setdefault(str(item["batch_id"]), []).append(item)
    found = []
    for batch_id, items in sorted(by_batch.items()):
        runs = {run_of(i) for i in items} - {None}
        run = sorted(runs)[0] if runs else None
        state = run_states.get(run, GONE) if run else GONE
        reason = why_dead(run, state)  # None without a recorded run: only the lease decides
        suspect = state not in (GONE, "success")
        if reason is None:
            expiry = min(lease_expiry(i, default_lease_seconds) for i in items)
            if expiry <= now_epoch:
                moment = datetime.fromtimestamp(expiry, timezone.utc)
                reason, suspect = f"its lease expired at {moment:%Y-%m-%dT%H:%M:%SZ}", True
        if reason is not None:
            found.append(Stranded(batch_id, run, reason, tuple(dict(i) for i in items), suspect))
    return found


def stale_run_request(
    flag: Optional[Mapping], run_state: Optional[str], now_epoch: float, grace_seconds: float
) -> Optional[str]:
    """Why the "a realtime run is waiting" flag no longer stands for a waiting run (so the
    sweeper drops it), or None. The flag names the run that took it; a run that ended, or never
    came to be ``grace_seconds`` after the flag was taken (the trigger died in between), does not
    wait any more."""
    if not flag:
        return None
    age = now_epoch - float(flag.get("requested_epoch", 0))
    if run_state in LIVE_RUN_STATES:
        return None
    if run_state is GONE:
        if age < grace_seconds:
            return None
        return f"run {flag.get('run_id')} was never started ({age:.0f} s after its flag)"
    return f"run {flag.get('run_id')} ended {run_state} holding the flag"
