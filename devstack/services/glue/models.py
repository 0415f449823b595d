"""The local Glue API's state and what its operations do to it: job definitions, job runs, job
bookmarks and connections, persisted in ``glue_state.json`` of the state directory (the Data
Catalog is ``catalog``). Replies are copies made under the lock, in the shapes of Glue's model:
what the service keeps for itself (a run's process group) never leaves it."""

from __future__ import annotations

import copy
import json
import secrets
import shutil
import threading
import time
from pathlib import Path

from devstack.services.glue import exceptions as err
from devstack.services.glue.supervisor import stop_group
from music_streaming import config

ACTIVE = ("STARTING", "RUNNING", "STOPPING")
DEFAULT_TIMEOUT_MINUTES = 2880
LOG_GROUP = "/aws-glue/jobs"
JOB_MEMBERS = (
    "Name", "JobMode", "JobRunQueuingEnabled", "Description", "LogUri", "Role", "CreatedOn",
    "LastModifiedOn", "ExecutionProperty", "Command", "DefaultArguments",
    "NonOverridableArguments", "Connections", "MaxRetries", "AllocatedCapacity", "Timeout",
    "MaxCapacity", "WorkerType", "NumberOfWorkers", "SecurityConfiguration",
    "NotificationProperty", "GlueVersion", "CodeGenConfigurationNodes", "ExecutionClass",
    "SourceControlDetails", "MaintenanceWindow",
)  # fmt: skip
CONNECTION_INPUT_MEMBERS = (
    "Name", "Description", "ConnectionType", "MatchCriteria", "ConnectionProperties",
    "PhysicalConnectionRequirements",
)  # fmt: skip


def page(items: list, req: dict, key: str, default_size: int = 100) -> dict:
    start = int(req.get("NextToken") or 0)
    size = int(req.get("MaxResults") or default_size)
    reply: dict = {key: items[start : start + size]}
    if start + size < len(items):
        reply["NextToken"] = str(start + size)
    return reply


class GlueBackend:
    def __init__(self, state_dir: Path, region: str = config.DEFAULT_REGION):
        self.state_dir = state_dir
        self.region = region
        self.lock = threading.RLock()
        self.supervisor = None  # set by the server: starts and stops runs
        self._stops: set[str] = set()
        self._fail_next: dict[str, int] = {}
        state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file = state_dir / "glue_state.json"
        state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        self.jobs: dict[str, dict] = state.get("jobs", {})
        self.runs: dict[str, dict[str, dict]] = state.get("runs", {})
        self.bookmarks: dict[str, dict] = state.get("bookmarks", {})
        self.connections: dict[str, dict] = state.get("connections", {})
        # run id -> {"group": pid, "identity": ...}: the service's own, never in a reply
        self.processes: dict[str, dict] = state.get("processes", {})
        for runs in self.runs.values():  # runs cut off by a restart did not finish
            for run in runs.values():
                if run["JobRunState"] in ACTIVE:
                    # Its process survives us (own session): stop it, or it would keep writing
                    # the batch beside Airflow's retry of the same run; only if it is still the
                    # process that was started (a pid alone may be another's by now).
                    process = self.processes.get(run["Id"], {})
                    stop_group(process.get("group"), process.get("identity"))
                    self._finish(run, "FAILED", "the local Glue service restarted during the run")
        self.processes = {}
        self._save()

    # ------------------------------------------------------------------ persistence, helpers
    def _save(self) -> None:
        with self.lock:
            tmp = self.state_file.with_suffix(".tmp")
            state = {
                "jobs": self.jobs,
                "runs": self.runs,
                "bookmarks": self.bookmarks,
                "connections": self.connections,
                "processes": self.processes,
            }
            tmp.write_text(json.dumps(state, default=str))
            tmp.replace(self.state_file)

    def _job(self, name: str) -> dict:
        if name not in self.jobs:
            raise err.EntityNotFoundException(f"Job {name} not found")
        return self.jobs[name]

    def _run(self, job_name: str, run_id: str) -> dict:
        self._job(job_name)
        run = self.runs.get(job_name, {}).get(run_id)
        if run is None:
            raise err.EntityNotFoundException(f"Job run {run_id} not found")
        return run

    @staticmethod
    def _finish(run: dict, state: str, error: str | None = None) -> None:
        now = time.time()
        run.update(
            JobRunState=state,
            CompletedOn=now,
            LastModifiedOn=now,
            ExecutionTime=int(now - run["StartedOn"]),
        )
        if error:
            run["ErrorMessage"] = error

    # ------------------------------------------------------------------------------ jobs
    def create_job(self, req: dict) -> str:
        for field in ("Name", "Role", "Command"):
            if not req.get(field):
                raise err.InvalidInputException(f"{field} is required")
        with self.lock:
            if req["Name"] in self.jobs:
                raise err.AlreadyExistsException(f"Job {req['Name']} already exists")
            now = time.time()
            definition = {k: v for k, v in req.items() if k in JOB_MEMBERS}
            self.jobs[req["Name"]] = {**definition, "CreatedOn": now, "LastModifiedOn": now}
            self._save()
        return req["Name"]

    def get_job(self, name: str) -> dict:
        with self.lock:
            return copy.deepcopy(self._job(name))

    def job_names(self) -> list[str]:
        with self.lock:
            return sorted(self.jobs)

    def update_job(self, name: str, update: dict) -> None:
        with self.lock:
            job = self._job(name)
            # UpdateJob replaces the definition (as in Glue), keeping name and creation time.
            self.jobs[name] = {
                **{k: v for k, v in update.items() if k in JOB_MEMBERS},
                "Name": name,
                "CreatedOn": job["CreatedOn"],
                "LastModifiedOn": time.time(),
            }
            self._save()

    def delete_job(self, name: str) -> None:
        with self.lock:
            self.jobs.pop(name, None)
            self.bookmarks.pop(name, None)
            self._save()

    # ------------------------------------------------------------------------------ runs
    def start_job_run(self, name: str, arguments: dict, timeout: int | None) -> str:
        with self.lock:
            job = self._job(name)
            runs = self.runs.setdefault(name, {})
            limit = job.get("ExecutionProperty", {}).get("MaxConcurrentRuns", 1)
            active = sum(r["JobRunState"] in ACTIVE for r in runs.values())
            if active >= limit:
                raise err.ConcurrentRunsExceededException(
                    f"Concurrent runs exceeded for {name} ({active} active, MaxConcurrentRuns {limit})"
                )
            merged = {**job.get("DefaultArguments", {}), **arguments}
            size = sum(len(k.encode()) + len(str(v).encode()) for k, v in merged.items())
            if size > config.MAX_JOB_ARGUMENTS_BYTES:  # as Glue's validation refuses them
                raise err.InvalidInputException(
                    f"Job arguments are {size} bytes; the maximum size is 260KB"
                )
            run_id = "jr_" + secrets.token_hex(32)
            now = time.time()
            run = {
                "Id": run_id,
                "Attempt": 0,
                "JobName": name,
                "StartedOn": now,
                "LastModifiedOn": now,
                "JobRunState": "STARTING",
                "Arguments": merged,
                "PredecessorRuns": [],
                "ExecutionTime": 0,
                "Timeout": timeout or job.get("Timeout") or DEFAULT_TIMEOUT_MINUTES,
                "MaxCapacity": job.get("MaxCapacity"),
                "WorkerType": job.get("WorkerType"),
                "NumberOfWorkers": job.get("NumberOfWorkers"),
                "GlueVersion": job.get("GlueVersion"),
                "LogGroupName": LOG_GROUP,
            }
            runs[run_id] = {k: v for k, v in run.items() if v is not None}
            self._save()
            started = copy.deepcopy(runs[run_id])
        self.supervisor.start(copy.deepcopy(job), started)
        return run_id

    def get_job_run(self, name: str, run_id: str) -> dict:
        with self.lock:
            return copy.deepcopy(self._run(name, run_id))

    def job_runs(self, name: str) -> list[dict]:
        with self.lock:
            self._job(name)
            runs = sorted(
                self.runs.get(name, {}).values(), key=lambda r: r["StartedOn"], reverse=True
            )
            return copy.deepcopy(runs)

    def stop_job_run(self, name: str, run_id: str) -> None:
        """STOPPING, and a signal to the run's process group (under the lock, where the
        supervisor cannot reap the process meanwhile)."""
        with self.lock:
            run = self._run(name, run_id)
            if run["JobRunState"] not in ACTIVE:
                raise err.InvalidInputException(f"Job run is {run['JobRunState']}")
            self._stops.add(run_id)
            run.update(JobRunState="STOPPING", LastModifiedOn=time.time())
            self._save()
            self.supervisor.signal_stop(run_id)

    # what the supervisor reports
    def stop_requested(self, run_id: str) -> bool:
        with self.lock:
            return run_id in self._stops

    def take_injected_failure(self, name: str) -> None:
        with self.lock:
            injected = self._fail_next.get(name, 0)
            if injected:
                self._fail_next[name] = injected - 1
        if injected:
            raise RuntimeError("injected failure (FailNextRuns)")

    def run_started(self, run_id: str, group: int, identity: str | None) -> None:
        with self.lock:
            for runs in self.runs.values():
                if run_id in runs and runs[run_id]["JobRunState"] == "STARTING":
                    runs[run_id].update(JobRunState="RUNNING", LastModifiedOn=time.time())
            self.processes[run_id] = {"group": group, "identity": identity}
            self._save()

    def run_finished(
        self, run_id: str, state: str, error: str | None, bookmark: Path | None
    ) -> None:
        """The run's end; a successful run's committed bookmark becomes the job's."""
        with self.lock:
            for name, runs in self.runs.items():
                run = runs.get(run_id)
                if run is None:
                    continue
                self._finish(run, state, error)
                if (
                    state == "SUCCEEDED"
                    and bookmark is not None
                    and run["Arguments"].get("--job-bookmark-option") == "job-bookmark-enable"
                ):
                    self._move_bookmark(name, run_id, bookmark.read_text())
            self.processes.pop(run_id, None)
            self._stops.discard(run_id)
            self._save()

    # ------------------------------------------------------------------------- bookmarks
    def _move_bookmark(self, name: str, run_id: str, state: str) -> None:
        entry = self.bookmarks.get(name) or {"JobName": name, "Version": 0, "Run": 0, "Attempt": 0}
        self.bookmarks[name] = {
            **entry,
            "Version": entry["Version"] + 1,
            "Run": entry["Run"] + 1,
            "Attempt": 0,
            "PreviousRunId": entry.get("RunId", ""),
            "RunId": run_id,
            "JobBookmark": state,
        }

    def bookmark_state(self, name: str) -> dict:
        with self.lock:
            entry = self.bookmarks.get(name)
            return json.loads(entry["JobBookmark"]) if entry else {}

    def get_job_bookmark(self, name: str) -> dict:
        with self.lock:
            self._job(name)
            if name not in self.bookmarks:
                raise err.EntityNotFoundException(f"Continuation for job {name} not found")
            return copy.deepcopy(self.bookmarks[name])

    def reset_job_bookmark(self, name: str, run_id: str | None) -> dict:
        """Forgets what the job's runs read (``RunId``: back to the state before that run)."""
        with self.lock:
            self._job(name)
            entry = self.bookmarks.get(name)
            if entry is None:
                raise err.EntityNotFoundException(f"Continuation for job {name} not found")
            if run_id and run_id != entry.get("RunId"):
                raise err.InvalidInputException(
                    f"Run {run_id} is not the job's last bookmarked run {entry.get('RunId')}"
                )
            self.bookmarks[name] = {
                **entry,
                "Version": entry["Version"] + 1,
                "Attempt": 0,
                "JobBookmark": "{}",
            }
            self._save()
            return copy.deepcopy(self.bookmarks[name])

    # ----------------------------------------------------------------------- connections
    def create_connection(self, connection: dict) -> None:
        if not connection.get("Name") or not connection.get("ConnectionType"):
            raise err.InvalidInputException("ConnectionInput needs Name and ConnectionType")
        with self.lock:
            if connection["Name"] in self.connections:
                raise err.AlreadyExistsException(f"Connection {connection['Name']} already exists")
            now = time.time()
            self.connections[connection["Name"]] = {
                **{k: v for k, v in connection.items() if k in CONNECTION_INPUT_MEMBERS},
                "CreationTime": now,
                "LastUpdatedTime": now,
            }
            self._save()

    def get_connection(self, name: str, hide_password: bool) -> dict:
        with self.lock:
            if name not in self.connections:
                raise err.EntityNotFoundException(f"Connection {name} not found")
            return _shown(self.connections[name], hide_password)

    def connection_list(self, connection_type: str | None, hide_password: bool) -> list[dict]:
        with self.lock:
            return [
                _shown(c, hide_password)
                for _, c in sorted(self.connections.items())
                if not connection_type or c["ConnectionType"] == connection_type
            ]

    def delete_connection(self, name: str) -> None:
        with self.lock:
            if self.connections.pop(name, None) is None:
                raise err.EntityNotFoundException(f"Connection {name} not found")
            self._save()

    # ---------------------------------------------------------------------- local extras
    def run_processes(self, name: str) -> dict[str, int]:
        with self.lock:
            self._job(name)
            mine = self.runs.get(name, {})
            return {i: p["group"] for i, p in self.processes.items() if i in mine}

    def fail_next_runs(self, name: str, count: int) -> None:
        with self.lock:
            self._fail_next[name] = count

    def delete_job_runs(self, name: str) -> int:
        with self.lock:
            self._job(name)
            runs = self.runs.get(name, {})
            active = sorted(i for i, r in runs.items() if r["JobRunState"] in ACTIVE)
            if active:
                raise err.ConcurrentModificationException(
                    f"{name} has active runs: {', '.join(active)}"
                )
            self.runs[name] = {}
            self._save()
        for run_id in runs:
            shutil.rmtree(self.state_dir / "runs" / run_id, ignore_errors=True)
        return len(runs)


def _shown(connection: dict, hide_password: bool) -> dict:
    shown = copy.deepcopy(connection)
    if hide_password:
        shown.get("ConnectionProperties", {}).pop("PASSWORD", None)
    return shown
