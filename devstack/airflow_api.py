"""A small client of the Airflow 3 REST API (token from /auth/token, renewed when refused), used
by the local MWAA API, the bootstrap, the run command, the benchmark and the end-to-end tests."""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

TERMINAL = ("success", "failed")


class Airflow:
    """Talks to the Airflow REST API with a JWT from /auth/token, renewed when refused."""

    def __init__(self, url: str, user: str, password_file: Path):
        self.url, self.user, self.password_file = url.rstrip("/"), user, password_file
        self.token: str | None = None
        self.lock = threading.Lock()

    def _password(self) -> str:
        return json.loads(self.password_file.read_text())[self.user]

    def _login(self) -> str:
        body = json.dumps({"username": self.user, "password": self._password()}).encode()
        request = urllib.request.Request(f"{self.url}/auth/token", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.loads(reply.read())["access_token"]

    def call(self, method: str, path: str, query: dict | None, body) -> tuple[int, object]:
        url = f"{self.url}/api/v2{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(2):
            with self.lock:
                if self.token is None or attempt:
                    self.token = self._login()
                token = self.token
            request = urllib.request.Request(url, data=data, method=method.upper(), headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=60) as reply:
                    return reply.status, _json_or_text(reply.read())
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and not attempt:
                    continue
                return exc.code, _json_or_text(exc.read())
        raise AssertionError("unreachable")


def _json_or_text(data: bytes):
    try:
        return json.loads(data) if data else {}
    except ValueError:
        return {"text": data.decode(errors="replace")}




def dag_runs(airflow: Airflow, dag_id: str, limit: int = 100) -> list[dict]:
    status, reply = airflow.call("GET", f"/dags/{dag_id}/dagRuns", {"order_by": "-run_after",
                                                                    "limit": limit}, None)
    if status != 200:
        raise RuntimeError(f"listing runs of {dag_id}: {status} {reply}")
    return reply["dag_runs"]


def task_instances(airflow: Airflow, dag_id: str, run_id: str) -> list[dict]:
    quoted = urllib.parse.quote(run_id, safe="")
    status, reply = airflow.call("GET", f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances",
                                 None, None)
    if status != 200:
        raise RuntimeError(f"task instances of {run_id}: {status} {reply}")
    return reply["task_instances"]


def runs_for_keys(airflow: Airflow, dag_id: str, keys: set[str], since: str = "") -> list[dict]:
    """Runs whose conf names any of ``keys`` (as the Lambda sets it), started after ``since``."""
    return [r for r in dag_runs(airflow, dag_id)
            if set((r.get("conf") or {}).get("keys", [])) & keys
            and (r.get("run_after") or "") >= since]


def wait_for_runs(airflow: Airflow, dag_id: str, keys: set[str], since: str = "",
                  timeout: float = 900, report=None) -> list[dict]:
    """Waits until every key has a run in a terminal state; ``report`` gets task-state lines."""
    deadline = time.monotonic() + timeout
    seen: dict[str, str] = {}
    while time.monotonic() < deadline:
        runs = runs_for_keys(airflow, dag_id, keys, since)
        covered = set().union(*[set((r.get("conf") or {}).get("keys", [])) for r in runs]) \
            if runs else set()
        if report is not None:
            for run in runs:
                states = {t["task_id"]: t["state"] for t in
                          task_instances(airflow, dag_id, run["dag_run_id"])}
                line = " ".join(f"{task}={state}" for task, state in states.items() if state)
                line = f"{run['state']:<8} {', '.join(run['conf']['keys'])}: {line}"
                if seen.get(run["dag_run_id"]) != line:
                    seen[run["dag_run_id"]] = line
                    report(line)
        if covered >= keys and all(r["state"] in TERMINAL for r in runs):
            return runs
        time.sleep(1)
    raise TimeoutError(f"runs of {dag_id} for {sorted(keys)} not finished after {timeout:.0f} s")


def wait_for_run(airflow: Airflow, dag_id: str, run_id: str, timeout: float = 600) -> dict:
    """Waits for one run (by id) to reach a terminal state."""
    deadline = time.monotonic() + timeout
    quoted = urllib.parse.quote(run_id, safe="")
    while time.monotonic() < deadline:
        status, run = airflow.call("GET", f"/dags/{dag_id}/dagRuns/{quoted}", None, None)
        if status == 200 and run["state"] in TERMINAL:
            return run
        time.sleep(1)
    raise TimeoutError(f"run {run_id} of {dag_id} not finished after {timeout:.0f} s")
