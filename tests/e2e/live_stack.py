"""Helpers of the end-to-end tests: the running stack seen as a user sees it."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3

from devstack import airflow_api, paths, stack
from music_streaming import config


class LiveStack:
    def __init__(self, cfg: stack.StackConfig):
        self.cfg = cfg
        self.settings = config.settings()
        self.s3 = boto3.client("s3")
        self.dynamodb = boto3.resource("dynamodb")
        self.airflow = airflow_api.Airflow(cfg.airflow_url, stack.AIRFLOW_USER, cfg.password_file)

    def __getitem__(self, name):
        return self.settings[name]

    def upload(self, key: str, path: Path) -> str:
        self.s3.upload_file(str(path), self["raw_data_bucket"], key)
        return key

    def wait(self, keys, timeout: float = 600) -> list[dict]:
        return airflow_api.wait_for_runs(self.airflow, config.REALTIME_DAG_ID, set(keys),
                                         timeout=timeout)

    def task_states(self, run: dict) -> dict[str, tuple[str, int]]:
        return {t["task_id"]: (t["state"], t["try_number"]) for t in airflow_api.task_instances(
            self.airflow, config.REALTIME_DAG_ID, run["dag_run_id"])}

    def keys(self, bucket_setting: str, prefix: str = "") -> list[str]:
        from music_streaming import aws
        return aws.list_keys(self.s3, self[bucket_setting], [prefix])

    def kpi_items(self, dates: set[str] | None = None) -> list[dict]:
        from devstack.kpi_query import fetch
        items = fetch(self.dynamodb.Table(self["dynamodb_table_name"]), None, None)
        return [i for i in items if dates is None or i["date"] in dates]

    def fail_next_glue_runs(self, job_name: str, count: int = 1) -> None:
        """The local Glue API's failure injection (not an AWS operation)."""
        request = urllib.request.Request(
            self.cfg.glue_endpoint, method="POST",
            data=json.dumps({"JobName": job_name, "Count": count}).encode(),
            headers={"X-Amz-Target": "AWSGlue.FailNextRuns",
                     "Content-Type": "application/x-amz-json-1.1"})
        urllib.request.urlopen(request, timeout=10).read()


def generate(out: Path, first_day: str, seed: int, streams: int = 2000, files: int = 1) -> Path:
    subprocess.run([sys.executable, str(paths.ROOT / "scripts" / "generate_data.py"), str(out),
                    "--streams", str(streams), "--songs", "300", "--users", "120", "--days", "2",
                    "--files", str(files), "--first-day", first_day, "--seed", str(seed)],
                   check=True)
    return out
