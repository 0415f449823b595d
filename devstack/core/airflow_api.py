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
        request = urllib.request.Request(
            f"{self.url}/auth/token",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.loads(reply.read())["access_token"]

    def fresh_token(self) -> str:
        """A fresh JWT of this user (what Airflow's UI keeps in its ``_token`` cookie)."""
        return self._login()

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
            request = urllib.request.Request(
                url,
                data=data,
                method=method.upper(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
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
    status, reply = airflow.call(
        "GET", f"/dags/{dag_id}/dagRuns", {"order_by": "-run_after", "limit": limit}, None
    )
    if status != 200:
        raise RuntimeError(f"listing runs of {dag_id}: {status} {reply}")
    return reply["dag_runs"]


def task_instances(airflow: Airflow, dag_id: str, run_id: str) -> list[dict]:
    quoted = urllib.parse.quote(run_id, safe="")
    status, reply = airflow.call(
        "GET", f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances", None, None
    )
    if status != 200:
        raise RuntimeError(f"task instances of {run_id}: {status} {reply}")
    return reply["task_instances"]


def trigger(airflow: Airflow, dag_id: str, run_id: str, conf: dict, attempts: int = 5) -> dict:
    """Starts a run with a given id; a 5xx or no answer in time (SQLite busy under load) is
    retried, and a 409 after a retry means the earlier attempt landed."""
    body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
    for attempt in range(attempts):
        try:
            status, reply = airflow.call("POST", f"/dags/{dag_id}/dagRuns", None, body)
        except (TimeoutError, urllib.error.URLError) as exc:
            status, reply = 504, {"detail": f"no answer: {exc}"}
        if status == 200 or (status == 409 and attempt):
            return {"dag_run_id": run_id}
        if status < 500:
            break
        time.sleep(1 + attempt)
    raise RuntimeError(f"could not start {dag_id} run {run_id}: {status} {reply}")


def wait_for_files(ledger, file_ids: list[str], timeout: float = 900) -> list[dict]:
    """Waits until every file version is decided for good (ARCHIVED, QUARANTINED or IGNORED);
    returns their ledger items."""
    from music_streaming import ledger as file_ledger

    deadline = time.monotonic() + timeout
    items: list = []
    while time.monotonic() < deadline:
        items = [ledger.get(f) for f in file_ids]
        if all(i and i["state"] in file_ledger.TERMINAL for i in items):
            return items
        time.sleep(1)
    states = {f: i["state"] if i else "not recorded" for f, i in zip(file_ids, items)}
    raise TimeoutError(f"files not decided after {timeout:.0f} s: {states}")


def wait_for_batches(
    airflow: Airflow, dag_id: str, items: list[dict], timeout: float = 300
) -> list[dict]:
    """The finished DAG runs of the batches that hold these ledger items (run id = batch id)."""
    batch_ids = sorted({i["batch_id"] for i in items if i.get("batch_id")})
    return [wait_for_run(airflow, dag_id, b, timeout) for b in batch_ids]


def run_path(dag_id: str, run_id: str) -> str:
    """The API path of one DAG run (run ids may hold characters a path must quote)."""
    return f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"


def dag_run(airflow: Airflow, dag_id: str, run_id: str) -> tuple[int, dict]:
    """(status, run) of one DAG run by id."""
    return airflow.call("GET", run_path(dag_id, run_id), None, None)


def wait_for_run(airflow: Airflow, dag_id: str, run_id: str, timeout: float = 600) -> dict:
    """Waits for one run (by id) to reach a terminal state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, run = dag_run(airflow, dag_id, run_id)
        if status == 200 and run["state"] in TERMINAL:
            return run
        time.sleep(1)
    raise TimeoutError(f"run {run_id} of {dag_id} not finished after {timeout:.0f} s")
