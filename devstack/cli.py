"""One entry for the local stack's commands: ``python -m devstack COMMAND`` (the scripts/ wrappers
call it). The environment is read here, once (``StackConfig.from_env``), and passed down."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable

from devstack.core.stack_config import AIRFLOW_USER, StackConfig
from devstack.provision import bootstrap, deploy, seed
from devstack.runtime import stack
from devstack.tools import (
    bench_catalog,
    bench_glue_scripts,
    bench_history,
    bench_iam,
    bench_kpis,
    bench_stack,
    demo,
    iam_check,
    kpi_query,
    ledger_report,
    query,
    rebuild_kpis,
    report,
    retry,
    spark_ui,
    stack_state,
    trace,
)


def up(args: argparse.Namespace, cfg: StackConfig) -> int:
    timings = stack.up(cfg)
    stack.say("bootstrap: " + json.dumps(bootstrap.bootstrap_stack(cfg)))
    stack.say(
        f"stack up in {timings['all healthy']:.1f} s; Airflow UI {cfg.airflow_url} "
        f"(user {AIRFLOW_USER}, password in {cfg.password_file})"
    )
    return 0


def down(args: argparse.Namespace, cfg: StackConfig) -> int:
    stack.down(cfg)
    return 0


def status(args: argparse.Namespace, cfg: StackConfig) -> int:
    rows = stack.status(cfg)
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in rows[0]}
    stack.say("  ".join(k.ljust(w) for k, w in widths.items()))
    for row in rows:
        stack.say("  ".join(str(row[k]).ljust(w) for k, w in widths.items()))
    if rows[0]["state"] == "up":  # the emulator answers: what the file ledger holds
        stack.say("")
        stack.say(ledger_report.ledger_report(cfg))
    return 0 if all(r["state"] == "up" for r in rows) else 3


def env(args: argparse.Namespace, cfg: StackConfig) -> int:
    """For ``eval "$(scripts/stack-env)"``: the AWS CLI and SDKs pointed at the stack."""
    for key, value in cfg.cli_env().items():
        stack.say(f"export {key}={value}")
    return 0


def bootstrap_part(args: argparse.Namespace, cfg: StackConfig) -> int:
    print(json.dumps(bootstrap.bootstrap_part(args.part, args.mwaa_endpoint), indent=1))
    return 0


def _bootstrap_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("part", choices=bootstrap.COMPOSE_PARTS)
    parser.add_argument("--mwaa-endpoint", help="the local MWAA API the Lambda calls")


Command = tuple[
    str,
    Callable[[argparse.ArgumentParser], None] | None,
    Callable[[argparse.Namespace, StackConfig], int],
]
COMMANDS: dict[str, Command] = {
    "up": ("start the stack (idempotent) and apply the bootstrap", None, up),
    "down": ("stop the stack (state is kept)", None, down),
    "status": ("components, ports, logs and the file ledger", None, status),
    "env": ("export lines that point the AWS CLI at the stack", None, env),
    "demo": (
        "the main job: up, upload a data directory, follow it, print the KPIs",
        demo.add_arguments,
        demo.run,
    ),
    "seed": ("upload a directory's CSVs to the raw bucket", seed.add_arguments, seed.run),
    "kpis": ("print the KPIs in DynamoDB", kpi_query.add_arguments, kpi_query.run),
    "trace": (
        "one timeline of a file's or a batch's path: Lambda, DAG run, Glue runs, outputs",
        trace.add_arguments,
        trace.run,
    ),
    "query": (
        "SQL over the catalog's tables (streams, songs, users): DuckDB locally, Athena with --aws",
        query.add_arguments,
        query.run,
    ),
    "spark-ui": (
        "a Spark history server over the ETL runs' event logs (each run under its Glue run id)",
        spark_ui.add_arguments,
        spark_ui.run,
    ),
    "reset": (
        "clear the stack's data and runs (files, KPIs, ledger, DAG and Glue runs, partitions); "
        "keep the definitions",
        stack_state.add_reset_arguments,
        stack_state.run_reset,
    ),
    "snapshot": (
        "save, load or list the stack's whole state (S3, DynamoDB, Airflow, Glue) by name",
        stack_state.add_snapshot_arguments,
        stack_state.run_snapshot,
    ),
    "retry": (
        "put FAILED files (a key, a file id, or --failed for all) back to RECEIVED",
        retry.add_arguments,
        retry.run,
    ),
    "rebuild-kpis": (
        "rebuild the KPI table in DynamoDB from the KPI snapshots in S3",
        rebuild_kpis.add_arguments,
        rebuild_kpis.run,
    ),
    "iam-check": (
        "each call the components made as their roles against the template's IAM policies: "
        "what AWS would deny, what no call used",
        iam_check.add_arguments,
        iam_check.run,
    ),
    "report": (
        "one self-contained HTML page of the KPIs (with charts) and the file ledger",
        report.add_arguments,
        report.run,
    ),
    "deploy": ("deploy the artifacts to AWS or the local stack", deploy.add_arguments, deploy.run),
    "bootstrap": (
        "one bootstrap part, for the Compose stack's containers",
        _bootstrap_arguments,
        bootstrap_part,
    ),
    "bench-kpis": (
        "KPI computation: Spark against DuckDB",
        bench_kpis.add_arguments,
        bench_kpis.run,
    ),
    "bench-history": (
        "daily batches in sequence: does a batch cost more as history grows",
        bench_history.add_arguments,
        bench_history.run,
    ),
    "bench-catalog": (
        "a crawler over many small files, then a GROUP BY through the local Athena API",
        bench_catalog.add_arguments,
        bench_catalog.run,
    ),
    "bench-glue-scripts": (
        "a trivial GlueContext script against a DataFrame-only one, through the local Glue API",
        bench_glue_scripts.add_arguments,
        bench_glue_scripts.run,
    ),
    "bench-iam": (
        "the emulator's IAM modes (off, audit, enforce): a role session's calls per second",
        bench_iam.add_arguments,
        bench_iam.run,
    ),
    "bench-stack": (
        "the local stack: start, sample upload, a burst",
        bench_stack.add_arguments,
        bench_stack.run,
    ),
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m devstack", description="The local stack's commands."
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, _run) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if add_arguments:
            add_arguments(sub)
    return root


def reads_the_local_stack(args: argparse.Namespace) -> bool:
    """Commands that only read or write the running local stack (the others start it or target
    AWS); they fail at once with a hint instead of a minute of retries and a traceback."""
    if args.command in ("kpis", "trace", "query", "rebuild-kpis", "report", "retry"):
        return not args.aws
    if args.command == "deploy":
        return args.target == "local"
    if args.command == "snapshot":  # saving or loading works on a stopped stack too
        return False
    return args.command in ("seed", "spark-ui", "reset")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    cfg = StackConfig.from_env(os.environ)
    if reads_the_local_stack(args) and not stack.listening(cfg.endpoint):
        print(
            f"{args.command}: nothing answers at {cfg.endpoint}, the local stack's AWS endpoint; "
            "start the stack with `scripts/up` (python -m devstack up), see `scripts/status`",
            file=sys.stderr,
        )
        return 2
    return COMMANDS[args.command][2](args, cfg)
