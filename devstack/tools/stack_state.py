"""The native stack's state as a whole: ``scripts/reset`` (data and runs cleared, definitions
kept) and ``scripts/snapshot save|load|list NAME`` (S3, DynamoDB, Airflow's metadata, Glue's runs
and catalog, copied together while nothing changes them, so they agree with each other).

Both refuse while a DAG run or a Glue run is active: cutting one in half is what they are not for.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sqlite3
import sys
import time
from pathlib import Path

from devstack.core import airflow_api, local_glue
from devstack.core.stack_config import AIRFLOW_USER, StackConfig
from devstack.provision import bootstrap
from devstack.runtime import stack
from music_streaming import aws, catalog, config

DATA_BUCKETS = ("raw_data_bucket", "processed_bucket", "quarantine_bucket", "archive_bucket")
# Under the stack's home: what a snapshot holds (the emulator's S3 and DynamoDB, Airflow's home
# with its database, the Glue API's jobs, runs and catalog). Logs and pid files are not state.
STATE_DIRS = ("ministack", "airflow", "glue")
SNAPSHOTS_DIR = "snapshots"
QUERY_CACHE_DIR = "query-cache"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class StateError(Exception):
    """Why the state cannot be reset, saved or loaded now."""


def airflow(cfg: StackConfig) -> airflow_api.Airflow:
    return airflow_api.Airflow(cfg.airflow_url, AIRFLOW_USER, cfg.password_file)


def active_work(cfg: StackConfig, settings: dict) -> list[str]:
    """DAG runs queued or running and Glue runs not finished, as ``what id`` lines."""
    active = []
    client = airflow(cfg)
    for dag_id in (config.REALTIME_DAG_ID, config.DAILY_DAG_ID):
        for run in airflow_api.dag_runs(client, dag_id, limit=1000):
            if run["state"] in ("queued", "running"):
                active.append(f"DAG run {dag_id} {run['dag_run_id']} ({run['state']})")
    glue = cfg.client("glue")
    for key in config.GLUE_JOBS:
        job = str(settings[f"{key}_job_name"])
        for page in glue.get_paginator("get_job_runs").paginate(JobName=job):
            for run in page["JobRuns"]:
                if run["JobRunState"] in ("STARTING", "RUNNING", "STOPPING"):
                    active.append(f"Glue run {job} {run['Id']} ({run['JobRunState']})")
    return active


def refuse_if_busy(cfg: StackConfig, settings: dict, what: str) -> None:
    active = active_work(cfg, settings)
    if active:
        raise StateError(
            f"{what} would cut active work in half; wait for it (scripts/status) or stop it:\n  "
            + "\n  ".join(active)
        )


# ------------------------------------------------------------------------------------ reset
def empty_bucket(s3, bucket: str) -> int:
    """Deletes every object version and delete marker; the bucket and its settings stay."""
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        for start in range(0, len(doomed), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed[start : start + 1000]})
        removed += len(doomed)
    return removed


def empty_table(dynamodb, table_name: str) -> int:
    table = dynamodb.Table(table_name)
    keys = [k["AttributeName"] for k in table.key_schema]
    removed, request = 0, {"ProjectionExpression": ", ".join(f"#k{i}" for i in range(len(keys)))}
    request["ExpressionAttributeNames"] = {f"#k{i}": k for i, k in enumerate(keys)}
    with table.batch_writer() as batch:
        while True:
            page = table.scan(**request)
            for item in page["Items"]:
                batch.delete_item(Key={k: item[k] for k in keys})
                removed += 1
            if "LastEvaluatedKey" not in page:
                return removed
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def delete_dag_runs(client: airflow_api.Airflow, dag_id: str) -> int:
    removed = 0
    while True:
        runs = airflow_api.dag_runs(client, dag_id, limit=100)
        if not runs:
            return removed
        for run in runs:
            path = airflow_api.run_path(dag_id, run["dag_run_id"])
            status, reply = client.call("DELETE", path, None, None)
            if status not in (204, 404):
                raise StateError(f"deleting DAG run {run['dag_run_id']}: {status} {reply}")
            removed += 1


def drop_partitions(glue) -> int:
    removed = 0
    for table in catalog.TABLES:
        listed = aws.paged(
            glue, "get_partitions", "Partitions", DatabaseName=catalog.DATABASE, TableName=table
        )
        values = [{"Values": p["Values"]} for p in listed]
        for start in range(0, len(values), 25):
            glue.batch_delete_partition(
                DatabaseName=catalog.DATABASE,
                TableName=table,
                PartitionsToDelete=values[start : start + 25],
            )
        removed += len(values)
    return removed


def reset(cfg: StackConfig, settings: dict) -> dict[str, int]:
    """Objects, KPI and ledger items, DAG runs, Glue runs and catalog partitions removed; buckets,
    tables, the Lambda and its notification, DAGs, Variables, Glue jobs and tables kept."""
    refuse_if_busy(cfg, settings, "a reset")
    s3, dynamodb = cfg.client("s3"), cfg.resource("dynamodb")
    removed = {"objects": 0}
    for setting in DATA_BUCKETS:
        removed["objects"] += empty_bucket(s3, str(settings[setting]))
    kpi_table = str(settings["dynamodb_table_name"])
    removed["kpi items"] = empty_table(dynamodb, kpi_table)
    removed["ledger items"] = empty_table(dynamodb, config.file_tracker_table(kpi_table))
    client = airflow(cfg)
    removed["DAG runs"] = sum(
        delete_dag_runs(client, d) for d in (config.REALTIME_DAG_ID, config.DAILY_DAG_ID)
    )
    removed["Glue runs"] = sum(
        local_glue.call(
            cfg.glue_endpoint,
            cfg.region,
            "DeleteJobRuns",
            {"JobName": str(settings[f"{key}_job_name"])},
        )["Deleted"]
        for key in config.GLUE_JOBS
    )
    removed["catalog partitions"] = drop_partitions(cfg.client("glue"))
    shutil.rmtree(cfg.home / QUERY_CACHE_DIR, ignore_errors=True)
    return removed


# -------------------------------------------------------------------------------- snapshots
def snapshot_dir(cfg: StackConfig, name: str) -> Path:
    if not _NAME.match(name):
        raise StateError(
            f"snapshot name {name!r}: letters, digits, '.', '_' and '-' only, at most 64"
        )
    return cfg.home / SNAPSHOTS_DIR / name


def _stop_for(cfg: StackConfig, settings: dict, what: str) -> None:
    """Stops the stack for a change of its state (refused while work is active)."""
    if stack.listening(cfg.endpoint):
        refuse_if_busy(cfg, settings, what)
    stack.down(cfg)


def _restart(cfg: StackConfig) -> None:
    stack.up(cfg)
    bootstrap.bootstrap_stack(cfg)  # the current code's definitions over the loaded state


# Airflow's SQLite database is copied with SQLite's online backup (one consistent file), so
# Airflow keeps running while a snapshot is saved; its WAL files are not state of their own.
AIRFLOW_DB = "airflow.db"


def _copy_state(cfg: StackConfig, target: Path) -> None:
    for part in STATE_DIRS:
        if not (cfg.home / part).exists():
            continue
        if part != "airflow":
            shutil.copytree(cfg.home / part, target / part, symlinks=True)
            continue
        shutil.copytree(
            cfg.airflow_home,
            target / part,
            symlinks=True,
            ignore=shutil.ignore_patterns(AIRFLOW_DB, f"{AIRFLOW_DB}-*"),
        )
        if (cfg.airflow_home / AIRFLOW_DB).exists():
            with (
                sqlite3.connect(cfg.airflow_home / AIRFLOW_DB) as live,
                sqlite3.connect(target / part / AIRFLOW_DB) as copy,
            ):
                live.backup(copy)


def save(cfg: StackConfig, settings: dict, name: str, replace: bool) -> dict:
    """The emulator and the Glue API stop for the copy (their state is files they write), Airflow
    runs on (its database is copied online): a save costs seconds, not a restart."""
    target = snapshot_dir(cfg, name)
    if target.exists() and not replace:
        raise StateError(f"snapshot {name} exists (at {target}); --replace overwrites it")
    started = time.monotonic()
    paused = [stack.component(cfg, n) for n in ("glue-api", "ministack")]
    running = [c for c in paused if stack.pid_of(c, cfg) is not None]
    if stack.listening(cfg.endpoint):
        refuse_if_busy(cfg, settings, "a snapshot")
    stack.stop(running, cfg)
    try:
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        _copy_state(cfg, partial)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)  # a crash mid-copy leaves no snapshot under the name
    finally:
        for component in reversed(running):
            stack.start_and_wait(component, cfg)
    return {"snapshot": name, "bytes": _size(target), "seconds": time.monotonic() - started}


def load(cfg: StackConfig, settings: dict, name: str) -> dict:
    source = snapshot_dir(cfg, name)
    if not source.is_dir():
        raise StateError(f"no snapshot {name} (scripts/snapshot list)")
    started = time.monotonic()
    _stop_for(cfg, settings, "loading a snapshot")
    for part in STATE_DIRS:
        shutil.rmtree(cfg.home / part, ignore_errors=True)
        if (source / part).exists():
            shutil.copytree(source / part, cfg.home / part, symlinks=True)
    shutil.rmtree(cfg.home / QUERY_CACHE_DIR, ignore_errors=True)
    _restart(cfg)
    return {"snapshot": name, "seconds": time.monotonic() - started}


def snapshots(cfg: StackConfig) -> list[dict]:
    root = cfg.home / SNAPSHOTS_DIR
    return [
        {
            "snapshot": d.name,
            "saved": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d.stat().st_mtime)),
            "bytes": _size(d),
        }
        for d in sorted(root.iterdir() if root.is_dir() else [])
        if d.is_dir() and not d.name.endswith(".partial")
    ]


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ---------------------------------------------------------------------------------- commands
def add_reset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", action="store_true", help="do not ask (for scripts)")


def run_reset(args: argparse.Namespace, cfg: StackConfig) -> int:
    settings = config.settings()
    if not args.yes:
        if not sys.stdin.isatty():
            print(
                "reset: deletes every object, KPI, ledger item and run; pass --yes", file=sys.stderr
            )
            return 2
        answer = input("Delete every uploaded file, KPI, ledger item and run of the stack? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return 1
    try:
        removed = reset(cfg, settings)
    except StateError as exc:
        print(f"reset: {exc}", file=sys.stderr)
        return 1
    print("reset: removed " + ", ".join(f"{n} {what}" for what, n in removed.items()))
    print(
        "kept: buckets, tables, the Lambda and its notification, DAGs, Variables, Glue jobs, catalog tables"
    )
    return 0


def add_snapshot_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("save", "load", "list"))
    parser.add_argument("name", nargs="?", help="the snapshot's name (save and load)")
    parser.add_argument("--replace", action="store_true", help="save over an existing snapshot")


def run_snapshot(args: argparse.Namespace, cfg: StackConfig) -> int:
    settings = config.settings()
    try:
        if args.action == "list":
            rows = snapshots(cfg)
            for row in rows:
                print(f"{row['snapshot']}  {row['saved']}  {row['bytes'] / 1e6:.1f} MB")
            if not rows:
                print(f"no snapshots in {cfg.home / SNAPSHOTS_DIR}")
            return 0
        if not args.name:
            print(f"snapshot {args.action}: give a NAME", file=sys.stderr)
            return 2
        if args.action == "save":
            done = save(cfg, settings, args.name, args.replace)
            print(
                f"saved snapshot {args.name} ({done['bytes'] / 1e6:.1f} MB) in "
                f"{done['seconds']:.1f} s"
            )
        else:
            done = load(cfg, settings, args.name)
            print(f"loaded snapshot {args.name}; the stack is up again ({done['seconds']:.1f} s)")
    except StateError as exc:
        print(f"snapshot: {exc}", file=sys.stderr)
        return 1
    return 0
