"""A live view of uploaded files on their way through the pipeline: on a terminal one table,
redrawn in place, of each file's ledger state and of each DAG run with its running task and
elapsed times (rich); elsewhere (CI, a pipe) one plain line per change. Used by the demo.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from devstack.core import airflow_api
from music_streaming import ledger as file_ledger

if TYPE_CHECKING:  # rich is imported where it draws: `python -m devstack bootstrap` runs in
    # containers (LocalStack's init hook) that need not have it
    from rich.console import Console
    from rich.table import Table

POLL_SECONDS = 1.0
NOT_FOUND = "not found"


@dataclass
class RunView:
    """One DAG run as the view shows it."""

    run_id: str
    state: str = "queued"
    tasks: dict[str, str] = field(default_factory=dict)  # task id -> state, in start order
    seconds: float | None = None

    @property
    def current(self) -> str:
        """The running tasks, else the last one that ran."""
        running = [t for t, s in self.tasks.items() if s in ("running", "up_for_retry", "queued")]
        done = [t for t, s in self.tasks.items() if s not in (None, "skipped", "scheduled")]
        return ", ".join(running) or (done[-1] if done else "-")


@dataclass
class Snapshot:
    files: dict[str, tuple[str, str]]  # file id -> (state, batch id)
    runs: dict[str, RunView]

    def lines(self) -> set[str]:
        """What a plain log shows of this moment: a line per file state and per run task."""
        out = {f"{_short(f)}: {state} ({batch})" for f, (state, batch) in self.files.items()}
        for run in self.runs.values():
            out |= {f"run {run.run_id}: {t} {s}" for t, s in run.tasks.items() if s is not None}
            out.add(f"run {run.run_id}: {run.state}")
        return out


def _short(file_id: str) -> str:
    return file_id.split("/", 3)[-1]


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start:
        return None
    finish = datetime.fromisoformat(end) if end else datetime.now(timezone.utc)
    return (finish - datetime.fromisoformat(start)).total_seconds()


def run_view(airflow: airflow_api.Airflow, dag_id: str, run_id: str) -> RunView:
    status, run = airflow_api.dag_run(airflow, dag_id, run_id)
    if status == 404:  # a batch of another DAG (the daily one): nothing to follow here
        return RunView(run_id, NOT_FOUND)
    if status != 200:
        return RunView(run_id)
    tasks = sorted(
        airflow_api.task_instances(airflow, dag_id, run_id),
        key=lambda t: t.get("start_date") or "~",
    )
    return RunView(
        run_id,
        run["state"],
        {t["task_id"]: t.get("state") for t in tasks},
        _seconds(run.get("start_date"), run.get("end_date")),
    )


def snapshot(ledger, airflow, dag_id: str, file_ids: list[str]) -> Snapshot:
    items = {f: ledger.get(f) for f in file_ids}
    files = {
        f: (i["state"], i.get("batch_id", "-")) if i else ("not recorded", "-")
        for f, i in items.items()
    }
    batches = sorted({batch for _state, batch in files.values() if batch != "-"})
    return Snapshot(files, {b: run_view(airflow, dag_id, b) for b in batches})


def table(now: Snapshot, elapsed: float) -> Table:
    from rich.table import Table

    view = Table(title=f"{len(now.files)} file(s), {elapsed:.0f} s since the upload")
    for column in ("file / DAG run", "state", "batch / task", "seconds"):
        view.add_column(column)
    for file_id, (state, batch) in now.files.items():
        view.add_row(_short(file_id), state, batch, "")
    for run in now.runs.values():
        took = f"{run.seconds:.0f}" if run.seconds is not None else ""
        view.add_row(f"run {run.run_id}", run.state, run.current, took, style="cyan")
    return view


def done(now: Snapshot) -> bool:
    files = all(state in file_ledger.TERMINAL for state, _batch in now.files.values())
    return files and all(r.state in (*airflow_api.TERMINAL, NOT_FOUND) for r in now.runs.values())


def follow(
    ledger, airflow, dag_id: str, file_ids: list[str], timeout: float, console: Console
) -> Snapshot:
    """Polls until every file is decided for good and its run has ended; returns the last
    snapshot. Raises TimeoutError with the states reached."""
    started = time.monotonic()
    deadline = started + timeout
    from rich.live import Live

    now = snapshot(ledger, airflow, dag_id, file_ids)
    if console.is_terminal:
        with Live(table(now, 0), console=console, refresh_per_second=4) as live:
            while not done(now) and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
                now = snapshot(ledger, airflow, dag_id, file_ids)
                live.update(table(now, time.monotonic() - started))
    else:
        shown: set[str] = set()
        while True:
            for line in sorted(now.lines() - shown):
                # one log line per change, never folded at the console's width
                console.print(
                    f"  {time.monotonic() - started:6.1f} s  {line}",
                    highlight=False,
                    soft_wrap=True,
                )
            shown |= now.lines()
            if done(now) or time.monotonic() >= deadline:
                break
            time.sleep(POLL_SECONDS)
            now = snapshot(ledger, airflow, dag_id, file_ids)
    if not done(now):
        raise TimeoutError(f"not decided after {timeout:.0f} s: {sorted(now.lines())}")
    return now
