"""The sweeper's rules: which runs are dead for their files, and when the trigger flag is stale."""

from __future__ import annotations

import pytest

from music_streaming import ledger as file_ledger
from music_streaming import recovery

NOW = 1_800_000_000.0
RUN = ("music_streaming_realtime_pipeline", "batch-1")


def held(batch="batch-1", state=file_ledger.VALIDATED, run=RUN, expires=NOW + 60, **extra):
    item = {"file_key": f"s3://raw/{batch}/{state}", "state": state, "batch_id": batch, **extra}
    if run:
        item.update(claimed_by_dag=run[0], claimed_by_run=run[1])
    if expires is not None:
        item["lease_expires_epoch"] = expires
    return item


@pytest.mark.parametrize("state", ["queued", "running"])
def test_a_live_run_within_its_lease_keeps_its_files(state):
    assert recovery.stranded_batches([held()], {RUN: state}, NOW, 600) == []


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("failed", "ended failed"),
        ("success", "ended (success) without deciding this file"),
        (None, "no longer exists (deleted)"),
    ],
)
def test_a_failed_ended_or_deleted_run_strands_its_files(state, reason):
    items = [held(state=s) for s in file_ledger.HELD]
    [stranded] = recovery.stranded_batches(items, {RUN: state}, NOW, 600)
    assert stranded.batch_id == "batch-1" and stranded.run == RUN
    assert reason in stranded.reason and len(stranded.items) == len(file_ledger.HELD)
    assert stranded.suspect is (state == "failed")  # a deleted or ended run blames no file


def test_a_run_past_its_lease_strands_its_files_even_while_running():
    [stranded] = recovery.stranded_batches([held(expires=NOW - 1)], {RUN: "running"}, NOW, 600)
    assert "lease expired" in stranded.reason and stranded.suspect


def test_files_claimed_before_leases_count_their_lease_from_the_claim():
    old = held(run=None, expires=None, claimed_at="2027-01-15T07:00:00+00:00")
    claimed = recovery.lease_expiry(old, 600)
    assert recovery.stranded_batches([old], {}, claimed - 1, 600) == []
    assert len(recovery.stranded_batches([old], {}, claimed + 1, 600)) == 1


def test_terminal_and_received_files_are_never_stranded():
    items = [held(state=s) for s in (*file_ledger.TERMINAL, file_ledger.RECEIVED)]
    assert recovery.stranded_batches(items, {RUN: "failed"}, NOW, 600) == []


def test_batches_are_judged_apart():
    other = ("music_streaming_pipeline", "scheduled__x")
    items = [held(), held(batch="daily", run=other)]
    found = recovery.stranded_batches(items, {RUN: "running", other: "failed"}, NOW, 600)
    assert [s.batch_id for s in found] == ["daily"]


def test_the_flag_of_a_waiting_run_stands():
    flag = {"run_id": "batch-1", "requested_epoch": NOW - 5000}
    assert recovery.stale_run_request(flag, "queued", NOW, 120) is None
    assert recovery.stale_run_request(None, None, NOW, 120) is None


def test_a_flag_whose_run_never_came_is_dropped_after_the_grace():
    flag = {"run_id": "batch-1", "requested_epoch": NOW - 30}
    assert recovery.stale_run_request(flag, recovery.GONE, NOW, 120) is None
    assert "never started" in recovery.stale_run_request(flag, recovery.GONE, NOW + 200, 120)


@pytest.mark.parametrize("state", ["success", "failed"])
def test_a_flag_held_by_an_ended_run_is_dropped(state):
    flag = {"run_id": "batch-1", "requested_epoch": NOW}
    assert f"ended {state}" in recovery.stale_run_request(flag, state, NOW, 120)


@pytest.mark.parametrize(
    ("size", "attempts", "allowed", "limit"),
    [(10, 1, 4, 5), (5, 2, 4, 3), (3, 3, 4, 1), (1, 1, 4, 1), (100, 1, 2, 1), (7, 1, 4, 4)],
)
def test_a_retry_batch_is_half_the_failed_one_and_the_last_attempt_alone(
    size, attempts, allowed, limit
):
    assert file_ledger.retry_batch_limit(size, attempts, allowed) == limit
