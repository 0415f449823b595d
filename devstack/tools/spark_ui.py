"""``scripts/spark-ui``: a Spark history server over the stack's Spark event logs (the ETL job's
``--spark-event-logs-path``, which the local Glue API honours as Glue does), on loopback. Each
Glue run is listed under its run id. Runs in the foreground; Ctrl-C stops it."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from devstack.core import arguments, emulator, paths
from devstack.core.stack_config import StackConfig
from music_streaming import aws, config, layout

DEFAULT_PORT = 18080


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=arguments.positive_int, default=DEFAULT_PORT)
    parser.add_argument(
        "--logs",
        help="event log directory, s3://bucket/prefix/ (default: the ETL job's "
        "--spark-event-logs-path)",
    )


def history_server(cfg: StackConfig, logs: str, port: int) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) of a history server reading ``logs`` through S3A from the stack."""
    jars = sorted(paths.JARS_DIR.glob("*.jar"))
    if not jars:
        raise FileNotFoundError(f"no hadoop-aws jars in {paths.JARS_DIR}: run scripts/install")
    options = {
        "spark.history.fs.logDirectory": logs,
        "spark.history.ui.port": str(port),
        "spark.history.fs.update.interval": "3s",
        # the S3A settings of the stack's Spark runs (endpoint, keys, path style)
        **emulator.s3a_settings(cfg.endpoint),
    }
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",  # the UI binds to it: loopback only
        # spark-class finds Spark through the venv's python (pyspark)
        "PATH": f"{paths.VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "SPARK_HISTORY_OPTS": " ".join(f"-D{k}={v}" for k, v in options.items()),
        "SPARK_DAEMON_CLASSPATH": os.pathsep.join(str(j) for j in jars),
    }
    return [
        str(paths.VENV_BIN / "spark-class"),
        "org.apache.spark.deploy.history.HistoryServer",
    ], env


def applications(url: str, timeout: float = 5) -> list[dict]:
    """The history server's applications (its REST API)."""
    with urllib.request.urlopen(f"{url}/api/v1/applications", timeout=timeout) as reply:
        return json.loads(reply.read())


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            applications(url, timeout=2)
            return True
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(0.5)
    return False


def run(args: argparse.Namespace, cfg: StackConfig) -> int:
    logs = args.logs or config.spark_event_logs_url(config.settings())
    bucket, prefix = layout.split_s3_url(logs)
    if not logs.startswith("s3://") or not bucket:
        print(f"spark-ui: --logs must be s3://bucket/prefix/, not {logs!r}", file=sys.stderr)
        return 2
    if prefix.strip("/"):  # no run may have logged yet
        aws.ensure_directory(cfg.client("s3"), bucket, prefix)
    argv, env = history_server(cfg, logs, args.port)
    url = f"http://127.0.0.1:{args.port}"
    log_path = cfg.logs / "spark-ui.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    # stopped by a signal too, the JVM goes with it (finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if not wait_until_serving(url, process):
            process.terminate()
            print(f"spark-ui: the history server did not start, see {log_path}", file=sys.stderr)
            return 1
        count = len(applications(url))
        print(f"Spark UI at {url} ({count} run(s) from {logs}; log {log_path}); Ctrl-C stops it")
        sys.stdout.flush()
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
