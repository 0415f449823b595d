"""Runs the pipeline's jobs on the sample data without Docker: MiniStack on loopback, the buckets
and tables, the sample CSVs uploaded, then validation -> full_etl -> dynamodb_only ->
archiving_only in the order the DAG runs them (same scripts, same arguments), and the KPIs."""
from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import date
from pathlib import Path

from devstack import bootstrap, emulator, glue_exec, kpi_query, package, paths, seed
from music_streaming import config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", nargs="?", type=Path, default=paths.SAMPLE_DATA_DIR)
    parser.add_argument("--port", type=int, default=int(os.environ.get("MINISTACK_PORT", 4566)))
    args = parser.parse_args()

    endpoint = f"http://127.0.0.1:{args.port}"
    state = paths.STATE_DIR
    os.environ.update(emulator.aws_env(endpoint))
    process = None
    if not emulator.healthy(endpoint):
        print(f"starting MiniStack on {endpoint} (state in {state}/ministack)")
        process = emulator.start(args.port, state / "ministack", state / "logs" / "ministack.log")
    try:
        settings = config.settings()
        print("bootstrap:", bootstrap.ensure_storage(settings))
        keys = seed.seed(args.data_dir, str(settings["raw_data_bucket"]))
        batch_id = f"demo-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
        archive = package.build_package_zip()
        common = {"raw_data_bucket": settings["raw_data_bucket"],
                  "processed_bucket": settings["processed_bucket"],
                  "aws_region": settings["aws_region"], "batch_id": batch_id}
        steps = [("validation", {**common, "quarantine_bucket": settings["quarantine_bucket"],
                                 "keys": ",".join(keys)})]
        for task in ("full_etl", "dynamodb_only", "archiving_only"):
            steps.append(("etl", {**common, "JOB_NAME": settings["etl_job_name"],
                                  "task_type": task, "processing_date": date.today().isoformat(),
                                  "archive_bucket": settings["archive_bucket"],
                                  "dynamodb_table_name": settings["dynamodb_table_name"]}))
        for job, arguments in steps:
            name = arguments.get("task_type", job)
            log = state / "logs" / f"{batch_id}-{name}.log"
            started = time.monotonic()
            code = glue_exec.run(job, arguments, endpoint, archive, log)
            print(f"{name:<15} {'ok' if code == 0 else 'FAILED'} in "
                  f"{time.monotonic() - started:5.1f} s  (log {log.relative_to(paths.ROOT)})")
            if code:
                print(log.read_text()[-3000:], file=sys.stderr)
                return code
        import boto3
        table = boto3.resource("dynamodb").Table(str(settings["dynamodb_table_name"]))
        print()
        items = kpi_query.fetch(table, None, None)
        print(kpi_query.render([i for i in items if i["kpi"] in ("top_genre", "quality")]))
        print(f"\n{sum(i['kpi'] == 'genre_daily' for i in items)} genre-day KPI rows and "
              f"{sum(i['kpi'] == 'top_song' for i in items)} top-song rows in "
              f"{settings['dynamodb_table_name']}")
        print("\nmore: scripts/kpis.sh --date D [--genre G] [--json]  (with AWS_ENDPOINT_URL="
              f"{endpoint})")
        return 0
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
