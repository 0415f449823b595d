"""``scripts/trace FILE_KEY|BATCH_ID``: one timeline of what the pipeline did with a file (every
version of the key) or a batch, joined from the file ledger, Airflow's REST API, Glue's API, S3 and
CloudWatch Logs: upload -> Lambda invocation -> DAG run and its tasks -> Glue runs -> outputs
(verdict, Parquet, KPI items, archive or quarantine). ``--json`` prints the same as one object.

Works against the local stack (default) and against AWS with ``--aws`` (default credentials;
MWAA's Airflow is not read then, so the DAG run is left out).
"""

from __future__ import annotations

import argparse
import functools
import json
import urllib.parse
from datetime import datetime
from typing import Callable, Iterable

from boto3.dynamodb.conditions import Attr

from devstack.core import airflow_api
from devstack.core.stack_config import AIRFLOW_USER, StackConfig
from devstack.tools import spark_ui
from devstack.tools.kpi_query import plain
from music_streaming import aws, config, dynamo_items, layout
from music_streaming import ledger as file_ledger

DAG_IDS = (config.REALTIME_DAG_ID, config.DAILY_DAG_ID)
JOB_NAMES = (
    config.VARIABLE_DEFAULTS["validation_job_name"],
    config.VARIABLE_DEFAULTS["etl_job_name"],
)
LAMBDA_LOG_LINES = 6  # of the invocation that recorded an upload


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        help="a raw file key (streams/a.csv, s3://bucket/key or a file id key#version) or a "
        "batch id (the realtime DAG run id)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")
    parser.add_argument("--aws", action="store_true", help="trace in AWS (default credentials)")


def is_file_key(target: str) -> bool:
    """A key names a dataset prefix or a CSV; a batch id has neither a '/' nor '.csv' at its end."""
    return "/" in target or target.lower().endswith(".csv")


def parse_file_target(target: str, default_bucket: str) -> tuple[str, str, str | None]:
    """(bucket, key, version or None) of ``streams/a.csv``, ``s3://b/streams/a.csv`` or a file
    id ``s3://b/streams/a.csv#version``."""
    text, _, version = target.partition("#")
    if text.startswith("s3://"):
        bucket, key = layout.split_s3_url(text)
    else:
        bucket, key = default_bucket, text
    return bucket, key, version or None


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 1)


class Sources:
    """The services a trace reads; each call returns plain data (None when absent)."""

    def __init__(self, cfg: StackConfig | None, settings: dict, clients: Callable[[str], object]):
        self.cfg, self.settings, self.client = cfg, settings, functools.cache(clients)
        table = str(settings["dynamodb_table_name"])
        self.ledger_table = self.client("dynamodb_resource").Table(config.file_tracker_table(table))
        self.airflow = (
            airflow_api.Airflow(cfg.airflow_url, AIRFLOW_USER, cfg.password_file) if cfg else None
        )

    def versions(self, target: str) -> list[dict]:
        if is_file_key(target):
            bucket, key, version = parse_file_target(target, str(self.settings["raw_data_bucket"]))
            condition = Attr("key").eq(key) & Attr("bucket").eq(bucket)
            if version:
                condition &= Attr("version_id").eq(version)
        else:
            condition = Attr("batch_id").eq(target)
        items = aws.all_items(self.ledger_table.scan, FilterExpression=condition)
        return sorted((plain(i) for i in items), key=lambda i: i["upload_order"])

    def lambda_log(self, recorded_by: dict) -> dict:
        """The invocation's log stream (found by its request id) and its lines, START to REPORT."""
        group, request = recorded_by.get("log_group_name"), recorded_by.get("aws_request_id")
        if not group or not request:
            return {"stream": None, "lines": []}
        logs = self.client("logs")
        try:
            found = logs.filter_log_events(logGroupName=group, filterPattern=f'"{request}"')
        except logs.exceptions.ResourceNotFoundException:
            return {"stream": None, "lines": []}
        streams = [e["logStreamName"] for e in found["events"]]
        if not streams:
            return {"stream": recorded_by.get("log_stream_name"), "lines": []}
        events = logs.get_log_events(
            logGroupName=group, logStreamName=streams[0], startFromHead=True
        )["events"]
        lines = [e["message"].rstrip() for e in events]
        starts = [
            i for i, line in enumerate(lines) if line.startswith(f"START RequestId: {request}")
        ]
        first = starts[0] if starts else 0
        last = next(
            (
                i
                for i in range(first, len(lines))
                if lines[i].startswith(f"REPORT RequestId: {request}")
            ),
            len(lines) - 1,
        )
        mine = lines[first : last + 1]
        return {"stream": streams[0], "lines": mine[:2] + mine[2:][-LAMBDA_LOG_LINES:]}

    def dag_run(self, batch_id: str) -> dict | None:
        if self.airflow is None:
            return None
        for dag_id in DAG_IDS:
            status, run = airflow_api.dag_run(self.airflow, dag_id, batch_id)
            if status == 200:
                tasks = airflow_api.task_instances(self.airflow, dag_id, batch_id)
                return {
                    "dag_id": dag_id,
                    "run_id": batch_id,
                    "state": run["state"],
                    "start": run.get("start_date"),
                    "end": run.get("end_date"),
                    "seconds": _seconds(run.get("start_date"), run.get("end_date")),
                    "url": f"{self.cfg.airflow_url}/dags/{dag_id}/runs/{batch_id}",
                    "tasks": [
                        {
                            "task_id": t["task_id"],
                            "state": t.get("state"),
                            "try_number": t.get("try_number"),
                            "start": t.get("start_date"),
                            "seconds": _seconds(t.get("start_date"), t.get("end_date")),
                        }
                        for t in sorted(tasks, key=lambda t: t.get("start_date") or "~")
                    ],
                }
        return None

    def glue_runs(self, batch_id: str) -> list[dict]:
        glue, runs = self.client("glue"), []
        for job in JOB_NAMES:
            pages = glue.get_paginator("get_job_runs").paginate(JobName=job)
            for run in (r for page in pages for r in page["JobRuns"]):
                arguments = run.get("Arguments", {})
                if arguments.get("--batch_id") != batch_id:
                    continue
                runs.append(
                    {
                        "job": job,
                        "task_type": arguments.get("--task_type", "validation"),
                        "id": run["Id"],
                        "state": run["JobRunState"],
                        "attempt": run.get("Attempt", 0),
                        "start": run["StartedOn"].isoformat() if run.get("StartedOn") else None,
                        "seconds": run.get("ExecutionTime"),
                        "error": run.get("ErrorMessage"),
                        "log_stream": f"{run.get('LogGroupName', '/aws-glue/jobs')}/output/"
                        f"{run['Id']}",
                        "spark_ui": self.spark_ui(job, run["Id"])
                        if arguments.get("--enable-spark-ui") == "true"
                        and arguments.get("--task_type") == "full_etl"
                        else None,
                    }
                )
        return sorted(runs, key=lambda r: r["start"] or "")

    @functools.cached_property
    def spark_ui_apps(self) -> dict[str, str]:
        """Glue run id -> Spark application id, of the local history server if it runs."""
        try:
            apps = spark_ui.applications(f"http://127.0.0.1:{spark_ui.DEFAULT_PORT}", timeout=2)
        except (OSError, ValueError):
            return {}
        return {a["name"]: a["id"] for a in apps}

    def spark_ui(self, job: str, run_id: str) -> str:
        """Where a Spark run's UI is: Glue's console in AWS; locally the history server's page
        of the run, or how to start it."""
        if self.cfg is None:
            region = self.settings["aws_region"]
            return (
                f"https://console.aws.amazon.com/gluestudio/home?region={region}"
                f"#/job/{urllib.parse.quote(job)}/run/{run_id}"
            )
        app = self.spark_ui_apps.get(run_id)
        if app is None:
            return "scripts/spark-ui (not running, or the run not yet listed)"
        return f"http://127.0.0.1:{spark_ui.DEFAULT_PORT}/history/{app}/jobs/"

    def json_object(self, bucket_setting: str, key: str) -> dict | None:
        s3 = self.client("s3")
        try:
            return aws.read_json(s3, str(self.settings[bucket_setting]), key)
        except s3.exceptions.NoSuchKey:
            return None


def trace(sources: Sources, target: str) -> dict:
    """The whole path of ``target`` (a file key or a batch id) as one JSON-able object."""
    versions = sources.versions(target)
    batches = sorted({v["batch_id"] for v in versions if v.get("batch_id")})
    if not is_file_key(target) and target not in batches:
        batches.append(target)  # a batch whose files the ledger no longer names
    files = []
    for item in versions:
        files.append(
            {
                "file_id": item["file_key"],
                "bucket": item["bucket"],
                "key": item["key"],
                "version_id": item["version_id"],
                "size": item.get("size"),
                "uploaded_at": item.get("uploaded_at"),
                "state": item["state"],
                "batch_id": item.get("batch_id"),
                "reason": item.get("reason"),
                "lambda": {
                    **item.get("recorded_by", {}),
                    **sources.lambda_log(item.get("recorded_by", {})),
                }
                if item.get("recorded_by")
                else None,
                "history": item.get("history", []),
                "verdict": {
                    "valid": item["state"] != file_ledger.QUARANTINED,
                    "errors": item.get("errors") or [],
                    "rows": item.get("row_count"),
                    "bad_rows": item.get("bad_row_count"),
                }
                if item["state"]
                not in (file_ledger.RECEIVED, file_ledger.CLAIMED, file_ledger.IGNORED)
                else None,
                "processed_to": item.get("processed_to"),
                "listen_dates": item.get("listen_dates"),
                "rejected_rows": item.get("rejected_rows"),
                "archived_to": item.get("archived_to"),
                "archive_copy": item.get("archive_copy"),
                "archive_version": item.get("archive_version"),
                "quarantined_to": item.get("quarantined_to"),
            }
        )
    return {"target": target, "files": files, "batches": [batch(sources, b) for b in batches]}


def batch(sources: Sources, batch_id: str) -> dict:
    summary = sources.json_object("processed_bucket", layout.etl_summary_key(batch_id))
    kpis = sources.json_object("processed_bucket", layout.kpi_results_key(batch_id))
    items = (
        dynamo_items.kpi_items({n: kpis.get(n, []) for n in dynamo_items.KPI_RESULTS})
        if kpis
        else []
    )
    return {
        "batch_id": batch_id,
        "dag_run": sources.dag_run(batch_id),
        "glue_runs": sources.glue_runs(batch_id),
        "etl": {
            "files": summary["files"],
            "touched_days": summary["touched_days"],
            "step_seconds": summary["step_seconds"],
            "kpi_items": len(items),
            "snapshot_version": summary["snapshot_version"],
        }
        if summary
        else None,
    }


# ----------------------------------------------------------------------------------- text
def _clock(moment: str | None) -> str:
    return moment[11:23] if moment else "-" * 12


def _line(at: str | None, what: str, detail: str = "") -> str:
    return f"  {_clock(at):<12}  {what:<24} {detail}".rstrip()


def found(result: dict) -> bool:
    """Whether the ledger, Airflow or Glue knew the target at all."""
    return bool(result["files"]) or any(b["dag_run"] or b["glue_runs"] for b in result["batches"])


def render(result: dict) -> str:
    if not found(result):
        return f"{result['target']}: the file ledger, Airflow and Glue know nothing of it"
    out: list[str] = []
    for f in result["files"]:
        out.append(
            f"s3://{f['bucket']}/{f['key']} version {f['version_id']}, {f['size']} bytes, uploaded "
            f"{f['uploaded_at']}: {f['state']}"
            + (f" (batch {f['batch_id']})" if f["batch_id"] else "")
        )
        out += _file_lines(f)
    for b in result["batches"]:
        out.append("")
        out += _batch_lines(b)
    return "\n".join(out)


def _file_lines(f: dict) -> Iterable[str]:
    details = {
        file_ledger.RECEIVED: _lambda_detail(f["lambda"]),
        file_ledger.IGNORED: f["reason"] or "",
        file_ledger.CLAIMED: f"by batch {f['batch_id']}",
        file_ledger.VALIDATED: _verdict_detail(f["verdict"])
        + f"; copy {f['archive_copy']}"
        + (f" (version {f['archive_version']})" if f.get("archive_version") else ""),
        file_ledger.QUARANTINED: _verdict_detail(f["verdict"]) + f"; to {f['quarantined_to']}",
        file_ledger.PROCESSED: f"{f['processed_to']} (days {', '.join(f['listen_dates'] or [])})"
        if f["processed_to"]
        else "",
        file_ledger.KPIS_WRITTEN: f"{f['rejected_rows'] or 0} row(s) rejected",
        file_ledger.ARCHIVED: f"{f['archived_to']}; raw version deleted",
    }
    previous = None
    for step in f["history"]:
        took = _seconds(previous, step["at"])
        label = step["state"] + (f" +{took:.1f}s" if took is not None else "")
        # a step the sweeper took (released from a dead run, or failed for good) says why
        detail = step.get("reason") or details.get(step["state"], "")
        yield _line(step["at"], label, detail)
        previous = step["at"]
    if f["lambda"]:
        for line in f["lambda"]["lines"]:
            yield f"  {'':<12}  {'':<24} | {line[:160]}"


def _lambda_detail(invocation: dict | None) -> str:
    if not invocation:
        return "found by the raw-bucket sweep (no Lambda event)"
    return (
        f"Lambda {invocation.get('function_name', '?')} request "
        f"{invocation.get('aws_request_id', '?')}, log {invocation.get('log_group_name', '')}"
        f" {invocation.get('stream') or invocation.get('log_stream_name', '')}"
    )


def _verdict_detail(verdict: dict | None) -> str:
    if not verdict:
        return ""
    text = f"{verdict['rows']} rows, {verdict['bad_rows'] or 0} bad"
    return text + (f": {'; '.join(verdict['errors'])}" if verdict["errors"] else "")


def _batch_lines(b: dict) -> Iterable[str]:
    """The DAG run, then its tasks and the Glue runs they started, in time order."""
    run = b["dag_run"]
    steps: list[tuple[str, str]] = []
    if run:
        yield (
            f"DAG run {run['dag_id']} / {run['run_id']}: {run['state']}"
            + (f" in {run['seconds']} s" if run["seconds"] is not None else "")
            + f"  {run['url']}"
        )
        for t in run["tasks"]:
            if t["state"] in (None, "skipped"):
                continue
            took = f" {t['seconds']} s" if t["seconds"] is not None else ""
            tries = f" (try {t['try_number']})" if (t["try_number"] or 1) > 1 else ""
            steps.append(
                (t["start"] or "", _line(t["start"], t["task_id"], t["state"] + took + tries))
            )
    else:
        yield f"batch {b['batch_id']}: no DAG run found (or not read: --aws)"
    for g in b["glue_runs"]:
        detail = f"{g['id']} {g['state']} {g['seconds']} s, log {g['log_stream']}"
        if g["spark_ui"]:
            detail += f", Spark UI {g['spark_ui']}"
        steps.append(
            (
                g["start"] or "",
                _line(g["start"], f"  Glue {g['task_type']}", detail)
                + (f": {g['error']}" if g["error"] else ""),
            )
        )
    yield from (line for _at, line in sorted(steps, key=lambda step: step[0]))
    etl = b["etl"]
    if etl:
        yield (
            f"  outputs: {etl['kpi_items']} KPI items for days {', '.join(etl['touched_days'])}; "
            + ", ".join(
                f"{file_id.split('/', 3)[-1].split('#')[0]} {info['rows'] - info['rejected_rows']}"
                " rows"
                for file_id, info in sorted(etl["files"].items())
            )
        )


def sources_for(cfg: StackConfig, use_aws: bool) -> Sources:
    if use_aws:
        import boto3

        def aws_clients(name: str):
            if name == "dynamodb_resource":
                return boto3.resource("dynamodb")
            return boto3.client(name)

        return Sources(None, config.settings(), aws_clients)

    def stack_clients(name: str):
        if name == "dynamodb_resource":
            return cfg.resource("dynamodb")
        return cfg.client(name)

    return Sources(cfg, config.settings(), stack_clients)


def run(args: argparse.Namespace, cfg: StackConfig) -> int:
    result = trace(sources_for(cfg, args.aws), args.target)
    print(json.dumps(result, indent=1, default=str) if args.json else render(result))
    return 0 if found(result) else 1
