"""The main job on the Docker-free local stack: bring the stack up (idempotent), seed a data
directory into the raw bucket, follow the DAG runs the uploads trigger (S3 -> Lambda -> MWAA ->
Airflow -> Glue), and print the KPIs from DynamoDB.

    python -m devstack demo [DATA_DIR] [--timeout S]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from devstack.core import airflow_api, paths
from devstack.core.stack_config import AIRFLOW_USER, StackConfig
from devstack.provision import bootstrap, seed
from devstack.runtime import stack
from devstack.tools import kpi_query, live_view
from music_streaming import config
from music_streaming import ledger as file_ledger


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir", nargs="?", type=Path, default=paths.SAMPLE_DATA_DIR)
    parser.add_argument("--timeout", type=float, default=900)


def run(args: argparse.Namespace, cfg: StackConfig) -> int:
    timings = stack.up(cfg)
    stack.say(f"stack healthy in {timings['all healthy']:.1f} s")
    stack.say("bootstrap: " + str(bootstrap.bootstrap_stack(cfg)))
    settings = config.settings()

    from rich.console import Console  # not at import: `python -m devstack bootstrap` needs no rich

    console = Console()
    started = time.monotonic()
    file_ids = seed.seed(
        cfg.client("s3"), args.data_dir, str(settings["raw_data_bucket"]), console.is_terminal
    )
    stack.say(
        f"following {len(file_ids)} file(s) through the ledger "
        f"(Airflow UI {cfg.airflow_url}, user {AIRFLOW_USER}; any step: scripts/trace KEY)"
    )
    ledger = file_ledger.Ledger(
        cfg.resource("dynamodb").Table(
            config.file_tracker_table(str(settings["dynamodb_table_name"]))
        )
    )
    airflow = airflow_api.Airflow(cfg.airflow_url, AIRFLOW_USER, cfg.password_file)
    last = live_view.follow(
        ledger, airflow, config.REALTIME_DAG_ID, file_ids, args.timeout, console
    )
    failed = [r.run_id for r in last.runs.values() if r.state != "success"] + [
        file_id.split("/", 3)[-1]
        for file_id, (state, _batch) in last.files.items()
        if state != file_ledger.ARCHIVED
    ]
    stack.say(
        f"{len(file_ids)} file(s) decided by {len(last.runs)} run(s) in "
        f"{time.monotonic() - started:.1f} s after the upload; failed or quarantined: "
        f"{failed or 'none'}"
    )

    table = cfg.resource("dynamodb").Table(str(settings["dynamodb_table_name"]))
    items = kpi_query.fetch(table, None, None)
    stack.say("")
    stack.say(kpi_query.render([i for i in items if i["kpi"] in ("top_genre", "quality")]))
    stack.say(
        f"\n{sum(i['kpi'] == 'genre_daily' for i in items)} genre-day KPI rows and "
        f"{sum(i['kpi'] == 'top_song' for i in items)} top-song rows in "
        f'{settings["dynamodb_table_name"]}; all of them: eval "$(scripts/stack-env)" '
        "then scripts/kpis.sh [--date D] [--genre G] [--json]. Stop the stack: scripts/down"
    )
    return 1 if failed else 0
