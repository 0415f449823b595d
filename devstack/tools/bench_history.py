"""Benchmark: does a batch cost more as history grows? Runs N daily batches in sequence (day 1:
songs, users and that day's streams; then one streams file per day) through the Glue jobs as the
DAG runs them (validation, full_etl, dynamodb_only, archiving_only) on its own MiniStack and local
Glue service (no Airflow), and prints each batch's full_etl time: the Glue run's wall time and the
job's own steps. The target: the last batch's full_etl within 1.2x of the first's.

    scripts/bench_history [--days 30] [--streams-per-day 100000]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devstack.core import emulator, paths
from devstack.core.arguments import positive_int
from devstack.core.stack_config import StackConfig
from devstack.provision import bootstrap
from devstack.runtime import stack
from music_streaming import aws, config, layout
from music_streaming import ledger as file_ledger
from music_streaming.job_args import EtlArgs, ValidationArgs

ETL_TASKS = ("full_etl", "dynamodb_only", "archiving_only")
TARGET_RATIO = 1.2
COMPONENTS = ("ministack", "glue-api")  # what the Glue jobs use; no Airflow


def generate(out: Path, days: int, streams_per_day: int) -> Path:
    subprocess.run(
        [
            sys.executable,
            str(paths.ROOT / "scripts" / "generate_data.py"),
            str(out),
            "--streams",
            str(streams_per_day * days),
            "--songs",
            str(max(1000, streams_per_day // 10)),
            "--users",
            str(max(500, streams_per_day // 20)),
            "--days",
            str(days),
            "--file-per-day",
            "--first-day",
            "2024-01-01",
            "--seed",
            "3",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def run_job(glue, name: str, arguments: dict[str, str]) -> float:
    """Starts a Glue run as the DAG's operator does and waits for it; its wall time in seconds."""
    run_id = glue.start_job_run(JobName=name, Arguments=arguments)["JobRunId"]
    started = time.monotonic()
    while True:
        run = glue.get_job_run(JobName=name, RunId=run_id)["JobRun"]
        if run["JobRunState"] in ("SUCCEEDED", "FAILED", "ERROR", "TIMEOUT", "STOPPED"):
            break
        time.sleep(0.5)
    if run["JobRunState"] != "SUCCEEDED":
        raise RuntimeError(f"{name} {run_id}: {run['JobRunState']} {run.get('ErrorMessage', '')}")
    return time.monotonic() - started


def run_batch(cfg: StackConfig, settings: dict, batch_id: str, day: str, keys: list[str]) -> dict:
    """One batch: claim the keys' current versions, then every Glue task; the figures."""
    s3, glue = cfg.client("s3"), cfg.client("glue")
    raw, processed = str(settings["raw_data_bucket"]), str(settings["processed_bucket"])
    ledger = file_ledger.Ledger(
        cfg.resource("dynamodb").Table(
            config.file_tracker_table(str(settings["dynamodb_table_name"]))
        )
    )
    file_ledger.discover(s3, ledger, raw)
    wanted = [
        file_ledger.file_id(raw, k, s3.head_object(Bucket=raw, Key=k)["VersionId"]) for k in keys
    ]
    files = [i["file_key"] for i in ledger.claim(batch_id, len(wanted), wanted, [])]
    buckets = {
        name: str(settings[name])
        for name in ("raw_data_bucket", "processed_bucket", "archive_bucket")
    }
    table = str(settings["dynamodb_table_name"])
    seconds = {
        "validation": run_job(
            glue,
            str(config.GLUE_JOBS["validation"]["name"]),
            ValidationArgs(
                **buckets,
                dynamodb_table_name=table,
                quarantine_bucket=str(settings["quarantine_bucket"]),
                batch_id=batch_id,
                processing_date=day,
                files=tuple(files),
            ).arguments(),
        )
    }
    for task in ETL_TASKS:
        args = EtlArgs(
            JOB_NAME=str(config.GLUE_JOBS["etl"]["name"]),
            task_type=task,
            batch_id=batch_id,
            processing_date=day,
            **buckets,
            dynamodb_table_name=table,
            catalog_database=str(settings["catalog_database"]),  # as the DAGs pass it
        )
        seconds[task] = run_job(glue, args.JOB_NAME, args.arguments())
    summary = aws.read_json(s3, processed, layout.etl_summary_key(batch_id))
    return {
        "seconds": seconds,
        "steps": summary["step_seconds"],
        "touched_days": len(summary["touched_days"]),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=positive_int, default=30, help="daily batches, in sequence")
    parser.add_argument("--streams-per-day", type=positive_int, default=100_000)


def run(args: argparse.Namespace, base: StackConfig) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-history-") as home:
        cfg = dataclasses.replace(
            base, home=Path(home), ministack_port=stack.free_port(), glue_port=stack.free_port()
        )
        data = generate(Path(home) / "data", args.days, args.streams_per_day)
        streams = sorted((data / "streams").glob("*.csv"))
        try:
            emulator.prepare_state_dir(cfg.home / "ministack")
            for name in COMPONENTS:
                stack.start_and_wait(stack.component(cfg, name), cfg, 60)
            settings = config.settings()
            s3 = cfg.client("s3")
            bootstrap.ensure_storage(s3, cfg.client("dynamodb"), settings)
            bootstrap.ensure_artifacts(s3, settings)
            bootstrap.ensure_glue_jobs(cfg.client("glue"), settings)
            bootstrap.ensure_catalog(cfg.client("glue"), settings)
            raw = str(settings["raw_data_bucket"])

            def put(path: Path, key: str) -> str:
                s3.upload_file(str(path), raw, key)
                return key

            print(
                f"{args.days} daily batches of {args.streams_per_day:,} streams; seconds per "
                "batch (full_etl: the Glue run's wall time, then the job's own steps)"
            )
            print(
                f"{'day':>4} {'days':>4} {'validation':>10} {'full_etl':>9} {'steps':>7} "
                f"{'batch':>7} {'recompute':>9} {'kpis':>6} {'dynamodb':>8} {'archive':>8}"
            )
            curve = []
            for number, path in enumerate(streams, start=1):
                day = path.stem.removeprefix("streams_")
                keys = [put(path, f"streams/{path.name}")]
                if number == 1:
                    keys += [
                        put(data / "songs" / "songs.csv", "songs/songs.csv"),
                        put(data / "users" / "users.csv", "users/users.csv"),
                    ]
                figures = run_batch(cfg, settings, f"bench-day-{number:03d}", day, keys)
                steps, seconds = figures["steps"], figures["seconds"]
                in_job = sum(steps.values())
                curve.append((seconds["full_etl"], in_job))
                print(
                    f"{number:>4} {figures['touched_days']:>4} {seconds['validation']:>10.1f} "
                    f"{seconds['full_etl']:>9.1f} {in_job:>7.1f} {steps['batch_streams']:>7.1f} "
                    f"{steps['days_touched']:>9.1f} {steps['kpis']:>6.1f} "
                    f"{seconds['dynamodb_only']:>8.1f} {seconds['archiving_only']:>8.1f}",
                    flush=True,
                )
        finally:
            for name in reversed(COMPONENTS):
                stack.stop([stack.component(cfg, name)], cfg)
    # Day 1 also loads the reference: besides last/first, the medians of the last 3 batches
    # against batches 2-4 (stream-only days both) say the same without one noisy run's luck.
    first, last = curve[1:4] or curve[:1], curve[-3:]
    for label, index in (("full_etl wall", 0), ("job steps", 1)):
        median_ratio = statistics.median(r[index] for r in last) / statistics.median(
            r[index] for r in first
        )
        print(
            f"{label}: batch {len(curve)} / batch 1 = {curve[-1][index] / curve[0][index]:.2f}x; "
            f"median of the last 3 / of batches 2-4 = {median_ratio:.2f}x "
            f"(target <= {TARGET_RATIO}x)"
        )
    return 0
