"""The Airflow Amazon provider's own system-test DAGs (``example_glue``, ``example_glue_catalog``,
``example_athena`` of the pinned provider, from its sdist, unchanged) run with ``dag.test()``
against the stack's AWS side: MiniStack, the local Glue API (jobs, crawlers, catalog) and the
local Athena API. Their harness is the provider's own ``system.amazon.aws.utils`` (ENV_ID and
ROLE_ARN from the environment, SSM asked too); only Airflow's ``tests_common`` helpers are
stand-ins (``system_test_harness``). Every task must pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from devstack.core import paths
from devstack.core.stack_config import StackConfig
from devstack.runtime import stack
from devstack.runtime.stack import free_port

pytestmark = pytest.mark.e2e

HARNESS = Path(__file__).with_name("system_test_harness")
SYSTEM_TESTS = paths.ROOT / ".cache" / "provider-system-tests"
ROLE = "system-test-role"


@pytest.fixture(scope="module")
def system_env(tmp_path_factory):
    """The stack's AWS side on free ports, an Airflow metadata database of its own, and the
    environment the DAGs run in."""
    home = tmp_path_factory.mktemp("system-tests")
    cfg = StackConfig(
        home=home,
        ministack_port=free_port(),
        glue_port=free_port(),
        athena_port=free_port(),
    )
    parts = [stack.component(cfg, n) for n in ("ministack", "glue-api", "athena-api")]
    try:
        for part in parts:
            stack.start_and_wait(part, cfg)
        iam = cfg.client("iam")
        role = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps({}))["Role"]
        env = {
            **os.environ,
            **cfg.cli_env(),
            "AIRFLOW_HOME": str(home / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(SYSTEM_TESTS / "system" / "amazon" / "aws"),
            "AIRFLOW_CONN_AWS_DEFAULT": stack.aws_connection(
                cfg.endpoint, cfg.glue_endpoint, cfg.athena_endpoint, cfg.region
            ),
            "ROLE_ARN": role["Arn"],
            "PYTHONPATH": os.pathsep.join([str(SYSTEM_TESTS), str(HARNESS)]),
        }
        subprocess.run(
            [str(paths.VENV_BIN / "airflow"), "db", "migrate"],
            env=env,
            check=True,
            capture_output=True,
        )
        yield cfg, env
    finally:
        stack.stop(parts, cfg)


def run_system_test(env: dict, name: str) -> dict:
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
    failed = {t: s for t, s in result["tasks"].items() if s != "success" and t != "watcher"}
    assert failed == {} and result["tasks"]["watcher"] == "skipped", result
    assert result["state"] == "success", result


def test_example_glue_catalog(system_env):
    passed(run_system_test(system_env[1], "example_glue_catalog"))


def test_example_glue_crawls_runs_a_glue_context_job_and_cleans_up(system_env):
    cfg, env = system_env
    result = run_system_test(env, "example_glue")
    passed(result)
    crawler_logs = cfg.client("logs").describe_log_streams(logGroupName="/aws-glue/crawlers")
    assert crawler_logs["logStreams"] == []  # prune_logs removed what the test made


def test_example_athena(system_env):
    cfg, env = system_env
    passed(run_system_test(env, "example_athena"))
    assert cfg.client("glue").get_databases()["DatabaseList"] == []  # dropped by the DAG
