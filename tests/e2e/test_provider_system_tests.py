"""The Airflow Amazon provider's own system-test DAGs (``example_glue``, ``example_glue_catalog``,
``example_athena`` of the pinned provider, from its sdist, unchanged) run with ``dag.test()``
against the stack's AWS side: MiniStack, the local Glue API (jobs, crawlers, catalog) and the
local Athena API. Their harness is the provider's own ``system.amazon.aws.utils`` (ENV_ID and
ROLE_ARN from the environment, SSM asked too); only Airflow's ``tests_common`` helpers are
stand-ins (``system_test_harness``). Every task must pass. (``example_mwaa`` runs against the whole
stack, in ``test_local_stack.py``.)"""

from __future__ import annotations

import json
import os

import pytest
import system_tests

from devstack.core import emulator
from devstack.core.stack_config import StackConfig
from devstack.runtime import stack
from devstack.runtime.stack import free_port

pytestmark = pytest.mark.e2e

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
    emulator.prepare_state_dir(home / "ministack")
    try:
        for part in parts:
            stack.start_and_wait(part, cfg)
        iam = cfg.client("iam")
        # a Glue service role, as the DAGs' docs ask: the local Glue API runs jobs with its
        # sessions, as Glue does
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "glue.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        yield (
            cfg,
            system_tests.environment(cfg, home / "airflow", dict(os.environ), ROLE_ARN=role["Arn"]),
        )
    finally:
        stack.stop(parts, cfg)


def test_example_glue_catalog(system_env):
    system_tests.passed(system_tests.run(system_env[1], "example_glue_catalog"))


def test_example_glue_crawls_runs_a_glue_context_job_and_cleans_up(system_env):
    cfg, env = system_env
    result = system_tests.run(env, "example_glue")
    system_tests.passed(result)
    crawler_logs = cfg.client("logs").describe_log_streams(logGroupName="/aws-glue/crawlers")
    assert crawler_logs["logStreams"] == []  # prune_logs removed what the test made


def test_example_athena(system_env):
    cfg, env = system_env
    system_tests.passed(system_tests.run(env, "example_athena"))
    assert cfg.client("glue").get_databases()["DatabaseList"] == []  # dropped by the DAG
