"""Benchmark of the local stack: cold start to all-healthy; the sample data's upload -> all KPIs in
DynamoDB; a burst of small stream files uploaded at once -> all archived with KPIs; a backlog of
small files put in raw while no event reached the Lambda -> all archived with KPIs, with no upload
after them (only the sweeper on its schedule finds them). For each: the batches, DAG runs and
Glue runs used and every batch's Glue task times. Runs its own stack on free ports in a temporary
home; prints numbers.

    scripts/bench_stack [DATA_DIR] [--burst 100] [--backlog 1000]
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from devstack.core import airflow_api, paths
from devstack.core.stack_config import AIRFLOW_USER, StackConfig
from devstack.provision import bootstrap, seed
from devstack.runtime import stack
from music_streaming import config
from music_streaming import ledger as file_ledger

GLUE_TASKS = (
    "validate_data_quality",
    "realtime_etl_processing",
    "write_to_dynamodb",
    "archive_processed_files",
)


def ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def upload_concurrently(s3, paths_: list[Path], bucket: str, folder: str = "burst") -> list[str]:
    def put(path: Path) -> str:
        key = f"streams/{folder}/{path.name}"
        version = s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())["VersionId"]
        return file_ledger.file_id(bucket, key, version)

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(put, paths_))


def upload_unannounced(cfg: StackConfig, paths_: list[Path], bucket: str) -> list[str]:
    """Puts files with the raw bucket's notification off (as if the Lambda had been down), then
    turns it back on: no event ever reports these uploads."""
    s3 = cfg.client("s3")
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    try:
        return upload_concurrently(s3, paths_, bucket, "backlog")
    finally:
        bootstrap.ensure_notification(s3, cfg.client("lambda"), config.settings())


def generate_streams(out: str, files: int, first_day: str) -> list[Path]:
    subprocess.run(
        [
            sys.executable,
            str(paths.ROOT / "scripts" / "generate_data.py"),
            out,
            "--streams",
            str(files * 100),
            "--files",
            str(files),
            "--first-day",
            first_day,
            "--seed",
            "9",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return sorted(Path(out, "streams").glob("*.csv"))


def glue_run_count(glue) -> int:
    return sum(
        len(glue.get_job_runs(JobName=str(spec["name"]))["JobRuns"])
        for spec in config.GLUE_JOBS.values()
    )


def measure(title: str, cfg: StackConfig, settings: dict, airflow, glue, upload) -> None:
    """Uploads, waits until every file is decided and its runs finished; prints the figures."""
    ledger = file_ledger.Ledger(
        cfg.resource("dynamodb").Table(
            config.file_tracker_table(str(settings["dynamodb_table_name"]))
        )
    )
    runs_before = len(airflow_api.dag_runs(airflow, config.REALTIME_DAG_ID))
    glue_before = glue_run_count(glue)
    upload_at = time.time()
    file_ids = upload()
    items = airflow_api.wait_for_files(ledger, file_ids, timeout=1800)
    runs = airflow_api.wait_for_batches(airflow, config.REALTIME_DAG_ID, items)
    done = max(ts(r["end_date"]) for r in runs)
    states = sorted({i["state"] for i in items})
    print(
        f"{title}: {done - upload_at:.1f} s for {len(items)} files ({states}); "
        f"{len(runs)} batches, {len(airflow_api.dag_runs(airflow, config.REALTIME_DAG_ID)) - runs_before} "
        f"DAG runs, {glue_run_count(glue) - glue_before} Glue runs",
        flush=True,
    )
    print(f"  {'batch':<60} {'files':>5} " + " ".join(f"{t[:14]:>14}" for t in GLUE_TASKS))
    for run in sorted(runs, key=lambda r: r["start_date"]):
        tis = {
            t["task_id"]: t
            for t in airflow_api.task_instances(airflow, config.REALTIME_DAG_ID, run["dag_run_id"])
        }
        cells = [
            f"{(ts(tis[t]['end_date']) - ts(tis[t]['start_date'])):>14.1f}"
            if tis[t]["start_date"] and tis[t]["end_date"]
            else f"{'-':>14}"
            for t in GLUE_TASKS
        ]
        count = sum(i["batch_id"] == run["dag_run_id"] for i in items)
        print(f"  {run['dag_run_id'][-60:]:<60} {count:>5} " + " ".join(cells))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir", nargs="?", type=Path, default=paths.SAMPLE_DATA_DIR)
    parser.add_argument("--burst", type=int, default=100, help="stream files uploaded at once")
    parser.add_argument(
        "--backlog",
        type=int,
        default=0,
        help="stream files put in raw with no event (the sweeper must find them); e.g. 1000",
    )


def run(args: argparse.Namespace, base: StackConfig) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as home:
        cfg = dataclasses.replace(
            base,
            home=Path(home),
            ministack_port=stack.free_port(),
            glue_port=stack.free_port(),
            mwaa_port=stack.free_port(),
            mwaa_web_port=stack.free_port(),
            athena_port=stack.free_port(),
            airflow_port=stack.free_port(),
        )
        try:
            first = stack.up(cfg)
            started = time.monotonic()
            bootstrap.bootstrap_stack(cfg)
            bootstrap_s = time.monotonic() - started
            stack.down(cfg)
            warm = stack.up(cfg)  # processes down, state kept: what `scripts/up` costs daily
            print(
                f"cold start (new home, incl. db migrate): {first['all healthy']:.1f} s "
                f"(migrate {first.get('airflow db migrate', 0):.1f} s, airflow "
                f"{first['airflow']:.1f} s); bootstrap {bootstrap_s:.1f} s; "
                f"restart with state: {warm['all healthy']:.1f} s"
            )

            settings = config.settings()
            airflow = airflow_api.Airflow(cfg.airflow_url, AIRFLOW_USER, cfg.password_file)
            glue = cfg.client("glue")
            measure(
                f"sample ({args.data_dir.name}) upload -> all KPIs",
                cfg,
                settings,
                airflow,
                glue,
                lambda: seed.seed(
                    cfg.client("s3"), args.data_dir, str(settings["raw_data_bucket"])
                ),
            )
            with tempfile.TemporaryDirectory(prefix="bench-burst-") as burst_dir:
                streams = generate_streams(burst_dir, args.burst, "2050-01-01")
                measure(
                    f"burst of {len(streams)} stream files -> all archived with KPIs",
                    cfg,
                    settings,
                    airflow,
                    glue,
                    lambda: upload_concurrently(
                        cfg.client("s3"), streams, str(settings["raw_data_bucket"])
                    ),
                )
            if args.backlog:
                with tempfile.TemporaryDirectory(prefix="bench-backlog-") as backlog_dir:
                    streams = generate_streams(backlog_dir, args.backlog, "2051-01-01")
                    measure(
                        f"backlog of {len(streams)} files no event reported -> all archived "
                        f"with KPIs (sweeper every {stack.SWEEP_MINUTES} min)",
                        cfg,
                        settings,
                        airflow,
                        glue,
                        lambda: upload_unannounced(cfg, streams, str(settings["raw_data_bucket"])),
                    )
        finally:
            stack.down(cfg)
    return 0
