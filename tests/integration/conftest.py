"""Integration fixtures: MiniStack over HTTP on loopback, jobs run as Glue runs them."""
from __future__ import annotations

import os
import socket
import subprocess
import uuid
from pathlib import Path

import boto3
import pytest

from devstack import bootstrap, emulator, glue_exec, package
from music_streaming import config

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory):
    state = tmp_path_factory.mktemp("ministack")
    port = free_port()
    process = emulator.start(port, state, state / "ministack.log")
    url = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in emulator.aws_env(url)}
    os.environ.update(emulator.aws_env(url))
    yield url
    process.terminate()
    process.wait(timeout=10)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def package_zip(tmp_path_factory):
    return package.build_package_zip(tmp_path_factory.mktemp("build"))


class Stack:
    """One isolated set of buckets and tables (unique names) on the shared emulator."""

    def __init__(self, endpoint: str, package_zip: Path, log_dir: Path):
        suffix = uuid.uuid4().hex[:8]
        self.endpoint = endpoint
        self.package_zip = package_zip
        self.log_dir = log_dir
        self.settings = config.settings({
            name: f"{config.VARIABLE_DEFAULTS[name]}-{suffix}"
            for name in (*bootstrap.BUCKET_SETTINGS, "dynamodb_table_name")})
        bootstrap.ensure_storage(self.settings)
        self.s3 = boto3.client("s3")
        self.dynamodb = boto3.resource("dynamodb")

    def __getitem__(self, name):
        return self.settings[name]

    def upload_dir(self, directory: Path) -> list[str]:
        keys = []
        for path in sorted(directory.rglob("*.csv")):
            key = path.relative_to(directory).as_posix()
            self.s3.upload_file(str(path), self["raw_data_bucket"], key)
            keys.append(key)
        return keys

    def put(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket=self["raw_data_bucket"], Key=key, Body=body)
        return key

    def keys(self, bucket_setting: str, prefix: str = "") -> list[str]:
        from music_streaming import aws
        return aws.list_keys(self.s3, self[bucket_setting], [prefix])

    def run_job(self, job: str, arguments: dict) -> subprocess.CompletedProcess:
        log = self.log_dir / f"{job}-{uuid.uuid4().hex[:6]}.log"
        code = glue_exec.run(job, arguments, self.endpoint, self.package_zip, log, timeout=600)
        result = subprocess.CompletedProcess([job], code, stdout=log.read_text(), stderr="")
        result.log_path = log
        return result

    def validate(self, batch_id: str, keys: list[str] | None = None, **extra):
        args = {"raw_data_bucket": self["raw_data_bucket"],
                "processed_bucket": self["processed_bucket"],
                "quarantine_bucket": self["quarantine_bucket"], "batch_id": batch_id, **extra}
        if keys is not None:
            args["keys"] = ",".join(keys)
        return self.run_job("validation", args)

    def etl(self, task_type: str, batch_id: str, processing_date: str = "2024-07-01"):
        return self.run_job("etl", {
            "JOB_NAME": config.GLUE_JOBS["etl"]["name"], "task_type": task_type,
            "batch_id": batch_id, "processing_date": processing_date,
            "raw_data_bucket": self["raw_data_bucket"],
            "processed_bucket": self["processed_bucket"],
            "archive_bucket": self["archive_bucket"],
            "dynamodb_table_name": self["dynamodb_table_name"]})

    def kpi_items(self) -> list[dict]:
        table = self.dynamodb.Table(self["dynamodb_table_name"])
        items, kwargs = [], {}
        while True:
            page = table.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.fixture
def stack(endpoint, package_zip, tmp_path):
    return Stack(endpoint, package_zip, tmp_path)


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, (
        f"job failed ({result.returncode}), log {result.log_path}:\n{result.stderr[-4000:]}")
