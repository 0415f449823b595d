"""Helpers of the job integration tests: an isolated set of buckets and tables on the emulator,
and jobs run the way Glue runs them."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import boto3

from devstack.provision import bootstrap
from devstack.services.glue import runtime as glue_exec
from music_streaming import config
from music_streaming import ledger as file_ledger
from music_streaming.job_args import EtlArgs, ValidationArgs


class Stack:
    """One isolated set of buckets and tables (unique names) on the shared emulator."""

    def __init__(self, endpoint: str, package_zip: Path, log_dir: Path):
        suffix = uuid.uuid4().hex[:8]
        self.endpoint = endpoint
        self.package_zip = package_zip
        self.log_dir = log_dir
        self.settings = config.settings(
            {
                name: f"{config.VARIABLE_DEFAULTS[name]}-{suffix}"
                for name in (*bootstrap.BUCKET_SETTINGS, "dynamodb_table_name")
            }
        )
        self.s3 = boto3.client("s3")
        bootstrap.ensure_storage(self.s3, boto3.client("dynamodb"), self.settings)
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
        code = glue_exec.run(
            job, arguments, self.endpoint, config.DEFAULT_REGION, self.package_zip, log, timeout=600
        )
        result = subprocess.CompletedProcess([job], code, stdout=log.read_text(), stderr="")
        result.log_path = log
        return result

    @property
    def ledger(self) -> file_ledger.Ledger:
        return file_ledger.Ledger(
            self.dynamodb.Table(config.file_tracker_table(self["dynamodb_table_name"]))
        )

    def claim(self, batch_id: str, keys: list[str]) -> list[str]:
        """Records what sits in raw (as the Lambda or a sweep would) and claims the current
        versions of ``keys`` for the batch, as a DAG's claim step does; their ledger ids."""
        raw = self["raw_data_bucket"]
        file_ledger.discover(self.s3, self.ledger, raw)
        current = [
            file_ledger.file_id(raw, k, self.s3.head_object(Bucket=raw, Key=k)["VersionId"])
            for k in keys
        ]
        return [i["file_key"] for i in self.ledger.claim(batch_id, len(current), current, [])]

    def validate(
        self,
        batch_id: str,
        keys: list[str] | None = None,
        processing_date: str = "2024-07-01",
        files: list[str] | None = None,
        **extra,
    ):
        if keys is not None:
            files = self.claim(batch_id, keys)
        args = ValidationArgs(
            raw_data_bucket=self["raw_data_bucket"],
            processed_bucket=self["processed_bucket"],
            archive_bucket=self["archive_bucket"],
            dynamodb_table_name=self["dynamodb_table_name"],
            quarantine_bucket=self["quarantine_bucket"],
            batch_id=batch_id,
            processing_date=processing_date,
            files=tuple(files or ()),
            **extra,
        )
        result = self.run_job("validation", args.arguments())
        result.files = files
        return result

    def tracked(self) -> dict[str, dict]:
        """Ledger items by raw key (one version per key in these tests)."""
        return {
            i["key"]: i
            for i in self.dynamodb.Table(
                config.file_tracker_table(self["dynamodb_table_name"])
            ).scan()["Items"]
            if "key" in i
        }

    def etl(self, task_type: str, batch_id: str, processing_date: str = "2024-07-01"):
        args = EtlArgs(
            JOB_NAME=str(config.GLUE_JOBS["etl"]["name"]),
            task_type=task_type,
            batch_id=batch_id,
            processing_date=processing_date,
            raw_data_bucket=self["raw_data_bucket"],
            processed_bucket=self["processed_bucket"],
            archive_bucket=self["archive_bucket"],
            dynamodb_table_name=self["dynamodb_table_name"],
        )
        return self.run_job("etl", args.arguments())

    def kpi_items(self) -> list[dict]:
        from devstack.tools.kpi_query import fetch

        return fetch(self.dynamodb.Table(self["dynamodb_table_name"]), None, None)


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, (
        f"job failed ({result.returncode}), log {result.log_path}:\n{result.stderr[-4000:]}"
    )
