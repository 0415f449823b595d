"""Running the Airflow Amazon provider's own system-test DAGs (from the pinned sdist, unchanged)
with ``dag.test()`` in a process of their own; only Airflow's ``tests_common`` helpers are stand-ins
(``system_test_harness``)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from devstack.core import paths
from devstack.core.stack_config import StackConfig
from devstack.runtime import stack

HARNESS = Path(__file__).with_name("system_test_harness")
SYSTEM_TESTS = paths.ROOT / ".cache" / "provider-system-tests"


def environment(cfg: StackConfig, airflow_home: Path, environ: dict, **variables: str) -> dict:
    """The environment the DAGs run in: the stack's endpoints, an Airflow metadata database of
    their own (migrated here), and the system test's variables."""
    env = {
        **environ,
        **cfg.cli_env(),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(SYSTEM_TESTS / "system" / "amazon" / "aws"),
        "AIRFLOW_CONN_AWS_DEFAULT": stack.aws_connection(
            cfg.endpoint, cfg.glue_endpoint, cfg.athena_endpoint, cfg.region, cfg.mwaa_endpoint
        ),
        "PYTHONPATH": str(SYSTEM_TESTS) + ":" + str(HARNESS),
        **variables,
    }
    subprocess.run(
        [str(paths.VENV_BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True
    )
    return env


def run(env: dict, name: str) -> dict:
    """One system-test DAG's run: {"state": ..., "tasks": {task id: state}}."""
    env = {**env, "SYSTEM_TESTS_ENV_ID": "e" + uuid.uuid4().hex[:8]}
    done = subprocess.run(
        [sys.executable, str(HARNESS / "run_dag.py"), name],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def passed(result: dict) -> None:
    """Every task succeeded (the watcher, which fails the run when one does not, skipped)."""
    failed = {t: s for t, s in result["tasks"].items() if s != "success" and t != "watcher"}
    assert failed == {} and result["tasks"]["watcher"] == "skipped", result
    assert result["state"] == "success", result
