"""Helpers of the end-to-end tests: the running stack seen as a user sees it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from devstack.core import airflow_api, emulator, local_glue, paths
from devstack.core.stack_config import AIRFLOW_USER, StackConfig
from music_streaming import config
from music_streaming import ledger as file_ledger


class LiveStack:
    def __init__(self, cfg: StackConfig):
        self.cfg = cfg
        self.settings = config.settings()
        self.s3 = cfg.client("s3")
        self.dynamodb = cfg.resource("dynamodb")
        self.airflow = airflow_api.Airflow(cfg.airflow_url, AIRFLOW_USER, cfg.password_file)

    def __getitem__(self, name):
        return self.settings[name]

    @property
    def ledger(self) -> file_ledger.Ledger:
        return file_ledger.Ledger(
            self.dynamodb.Table(config.file_tracker_table(self["dynamodb_table_name"]))
        )

    def command(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """A ``scripts/`` command against this stack, as a user runs it (output captured)."""
        return subprocess.run(
            [str(paths.ROOT / "scripts" / argv[0]), *argv[1:]],
            env={**os.environ, **self.cfg.to_env()},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def upload(self, key: str, path: Path, **transfer) -> str:
        """Uploads as a user does; returns the version's file-ledger id."""
        self.s3.upload_file(str(path), self["raw_data_bucket"], key, **transfer)
        version = self.s3.head_object(Bucket=self["raw_data_bucket"], Key=key)["VersionId"]
        return file_ledger.file_id(self["raw_data_bucket"], key, version)

    def wait(self, file_ids, timeout: float = 600) -> list[dict]:
        """Waits until the versions are decided and their runs finished; the runs. Stops early,
        with each task's state and try, when a batch's run failed with its files undecided."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                items = airflow_api.wait_for_files(self.ledger, list(file_ids), 15)
                return airflow_api.wait_for_batches(self.airflow, config.REALTIME_DAG_ID, items)
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
            items = filter(None, map(self.ledger.get, file_ids))
            for batch in sorted(
                {
                    i.get("batch_id")
                    for i in items
                    if i.get("batch_id") and i["state"] not in file_ledger.TERMINAL
                }
            ):
                run = {"dag_run_id": batch}
                try:
                    states = self.task_states(run)
                except RuntimeError:
                    continue  # not a realtime run (yet)
                if any(state == "failed" for state, _ in states.values()) and not any(
                    state in ("running", "queued", "up_for_retry", "scheduled", None)
                    for state, _ in states.values()
                ):
                    raise AssertionError(f"batch {batch} failed with files undecided: {states}")

    def task_states(self, run: dict) -> dict[str, tuple[str, int]]:
        return {
            t["task_id"]: (t["state"], t["try_number"])
            for t in airflow_api.task_instances(
                self.airflow, config.REALTIME_DAG_ID, run["dag_run_id"]
            )
        }

    def set_paused(self, dag_id: str, paused: bool, timeout: float = 120) -> None:
        """Pauses or unpauses a DAG (waiting until the DAG processor has made it)."""
        deadline = time.monotonic() + timeout
        while True:
            status, reply = self.airflow.call(
                "PATCH", f"/dags/{dag_id}", {"update_mask": "is_paused"}, {"is_paused": paused}
            )
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert status == 200, f"pausing {dag_id}: {status} {reply}"

    def pause_scheduled_dags(self) -> None:
        """Keeps the scheduled DAGs (daily, sweeper) from starting runs of their own in the
        middle of a test (a run made at start-up, a midnight run, a sweep taking files another
        test means for the daily DAG). A paused DAG's runs never move on, so the runs each
        already has are let finish first."""
        for dag_id in (config.DAILY_DAG_ID, config.SWEEPER_DAG_ID):
            self.pause_letting_runs_finish(dag_id)

    def pause_letting_runs_finish(self, dag_id: str) -> None:
        while True:
            self.set_paused(dag_id, True)
            active = [
                r
                for r in airflow_api.dag_runs(self.airflow, dag_id)
                if r["state"] not in airflow_api.TERMINAL
            ]
            if not active:
                return
            self.set_paused(dag_id, False)
            for run in active:
                airflow_api.wait_for_run(self.airflow, dag_id, run["dag_run_id"])

    def sweep(self) -> dict:
        """One run of the sweeper DAG, as its schedule starts it; the run (it must succeed)."""
        self.set_paused(config.SWEEPER_DAG_ID, False)
        run_id = f"sweep-{time.time_ns()}"
        airflow_api.trigger(self.airflow, config.SWEEPER_DAG_ID, run_id, {})
        run = airflow_api.wait_for_run(self.airflow, config.SWEEPER_DAG_ID, run_id)
        self.pause_letting_runs_finish(config.SWEEPER_DAG_ID)
        assert run["state"] == "success", run
        return run

    def session_with(self, *statements: dict) -> dict:
        """Session credentials, from the emulator's STS, of a new role allowed ``statements``
        (boto3 client arguments, for ``cfg.client(service, credentials)``)."""
        return emulator.assume_role(
            self.cfg.client("sts"), self.session_role_arn(*statements), "test"
        )

    def session_role_arn(self, *statements: dict) -> str:
        """A new role allowed ``statements``, which the account may assume."""
        iam = self.cfg.client("iam")
        name = f"test-{time.time_ns()}"
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
            ],
        }
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        policy = {"Version": "2012-10-17", "Statement": list(statements)}
        iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
        return role["Role"]["Arn"]

    def delete_run(self, dag_id: str, run_id: str) -> None:
        """Stops a running DAG run as an operator stopping a stuck one would: marks it failed
        (its running tasks are killed), then deletes it (Airflow refuses to delete a running
        run). REST API."""
        path = airflow_api.run_path(dag_id, run_id)
        status, reply = self.airflow.call("PATCH", path, None, {"state": "failed"})
        assert status == 200, (status, reply)
        status, reply = self.airflow.call("DELETE", path, None, None)
        assert status == 204, (status, reply)

    def wait_for_states(self, file_ids, states, timeout: float = 600) -> list[dict]:
        """Waits until every version is in one of ``states``; the items."""
        deadline = time.monotonic() + timeout
        while True:
            items = [self.ledger.get(f) for f in file_ids]
            if all(i and i["state"] in states for i in items):
                return items
            if time.monotonic() > deadline:
                raise TimeoutError([(i or {}).get("state") for i in items])
            time.sleep(0.5)

    def run_daily_dag_on_new_files(self) -> None:
        """Unpauses the daily DAG, taking files however new (daily_min_file_age_minutes 0)."""
        status, reply = self.airflow.call(
            "PATCH",
            "/variables/daily_min_file_age_minutes",
            None,
            {"key": "daily_min_file_age_minutes", "value": "0"},
        )
        assert status == 200, reply
        self.set_paused(config.DAILY_DAG_ID, False)

    def runs(self) -> list[dict]:
        """Every DAG run of both DAGs."""
        return [
            run
            for dag_id in (config.REALTIME_DAG_ID, config.DAILY_DAG_ID)
            for run in airflow_api.dag_runs(self.airflow, dag_id, limit=1000)
        ]

    def keys(self, bucket_setting: str, prefix: str = "") -> list[str]:
        from music_streaming import aws

        return aws.list_keys(self.s3, self[bucket_setting], [prefix])

    def kpi_items(self, dates: set[str] | None = None) -> list[dict]:
        from devstack.tools.kpi_query import fetch

        items = fetch(self.dynamodb.Table(self["dynamodb_table_name"]), None, None)
        return [i for i in items if dates is None or i["date"] in dates]

    def glue_call(self, operation: str, body: dict) -> dict:
        """The local Glue API as raw JSON (its extras, e.g. GetRunProcesses, which boto3 cannot
        call)."""
        return local_glue.call(self.cfg.glue_endpoint, self.cfg.region, operation, body)

    def fail_next_glue_runs(self, job_name: str, count: int = 1) -> None:
        """The local Glue API's failure injection (not an AWS operation)."""
        self.glue_call("FailNextRuns", {"JobName": job_name, "Count": count})


def generate(out: Path, first_day: str, seed: int, streams: int = 2000, files: int = 1) -> Path:
    subprocess.run(
        [
            sys.executable,
            str(paths.ROOT / "scripts" / "generate_data.py"),
            str(out),
            "--streams",
            str(streams),
            "--songs",
            "300",
            "--users",
            "120",
            "--days",
            "2",
            "--files",
            str(files),
            "--first-day",
            first_day,
            "--seed",
            str(seed),
        ],
        check=True,
    )
    return out
