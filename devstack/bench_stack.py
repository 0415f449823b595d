"""Benchmark of the local stack: cold start to all-healthy, then upload -> KPIs visible in DynamoDB
for the sample data, with a per-stage breakdown of every DAG run (Lambda, DAG queue, each Glue run,
the DynamoDB write). Runs its own stack on free ports in a temporary home; prints numbers.

    scripts/bench_stack [DATA_DIR]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import boto3

from devstack import airflow_api, bootstrap, emulator, paths, seed, stack
from music_streaming import config

GLUE_TASKS = ("validate_data_quality", "realtime_etl_processing", "write_to_dynamodb",
              "archive_processed_files")


def ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=paths.SAMPLE_DATA_DIR)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as home:
        cfg = stack.StackConfig(home=Path(home), ministack_port=stack.free_port(),
                                glue_port=stack.free_port(), mwaa_port=stack.free_port(),
                                airflow_port=stack.free_port())
        os.environ.update(emulator.aws_env(cfg.endpoint, cfg.region))
        try:
            first = stack.up(cfg)
            started = time.monotonic()
            bootstrap.bootstrap_stack(cfg)
            bootstrap_s = time.monotonic() - started
            stack.down(cfg)
            warm = stack.up(cfg)  # processes down, state kept: what `scripts/up` costs daily
            print(f"cold start (new home, incl. db migrate): {first['all healthy']:.1f} s "
                  f"(migrate {first.get('airflow db migrate', 0):.1f} s, airflow "
                  f"{first['airflow']:.1f} s); bootstrap {bootstrap_s:.1f} s; "
                  f"restart with state: {warm['all healthy']:.1f} s")

            settings = config.settings()
            since = datetime.now(timezone.utc).isoformat()
            upload_at = time.time()
            keys = seed.seed(args.data_dir, str(settings["raw_data_bucket"]))
            airflow = airflow_api.Airflow(cfg.airflow_url, stack.AIRFLOW_USER, cfg.password_file)
            runs = airflow_api.wait_for_runs(airflow, config.REALTIME_DAG_ID, set(keys), since)
            table = boto3.resource("dynamodb").Table(str(settings["dynamodb_table_name"]))
            assert table.scan(Limit=1)["Items"], "no KPIs in DynamoDB"
            last_end = max(ts(r["end_date"]) for r in runs)
            print(f"upload -> KPIs of all {len(keys)} files in DynamoDB: "
                  f"{last_end - upload_at:.1f} s ({len(runs)} DAG runs, run serially: "
                  "max_active_runs=1)")
            print(f"{'run (file)':<28} {'lambda':>7} {'queue':>6} "
                  + " ".join(f"{t[:14]:>14}" for t in GLUE_TASKS) + f" {'run total':>9}")
            for run in sorted(runs, key=lambda r: r["start_date"]):
                tis = {t["task_id"]: t for t in airflow_api.task_instances(
                    airflow, config.REALTIME_DAG_ID, run["dag_run_id"])}
                first_task = min(ts(t["start_date"]) for t in tis.values() if t["start_date"])
                cells = [f"{(ts(tis[t]['end_date']) - ts(tis[t]['start_date'])):>14.1f}"
                         if tis[t]["start_date"] and tis[t]["end_date"] else f"{'-':>14}"
                         for t in GLUE_TASKS]
                print(f"{run['conf']['keys'][0][:28]:<28} "
                      f"{ts(run['queued_at']) - upload_at:>7.1f} "
                      f"{first_task - ts(run['queued_at']):>6.1f} " + " ".join(cells)
                      + f" {ts(run['end_date']) - ts(run['start_date']):>9.1f}")
            glue = boto3.client("glue", endpoint_url=cfg.glue_endpoint)
            for key in ("validation", "etl"):
                name = str(config.GLUE_JOBS[key]["name"])
                times = [r["ExecutionTime"] for r in glue.get_job_runs(JobName=name)["JobRuns"]]
                print(f"Glue {name}: {len(times)} runs, execution time {sorted(times)} s")
        finally:
            stack.down(cfg)


if __name__ == "__main__":
    main()
