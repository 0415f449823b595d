"""End-to-end fixtures: the whole local stack started once for the session (free ports, a
temporary home), used the way a user does: files uploaded to the raw bucket."""

from __future__ import annotations

import os

import pytest
from live_stack import LiveStack

from devstack.core.stack_config import StackConfig
from devstack.provision import bootstrap
from devstack.runtime import stack
from devstack.runtime.stack import free_port


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One stack per test module, stopped when the module ends (not idling through the rest),
    with the scheduled daily DAG paused."""
    home = tmp_path_factory.mktemp("stack")
    cfg = StackConfig(
        home=home,
        ministack_port=free_port(),
        glue_port=free_port(),
        mwaa_port=free_port(),
        mwaa_web_port=free_port(),
        athena_port=free_port(),
        airflow_port=free_port(),
        retry_delay_seconds=3,
    )
    saved = dict(os.environ)
    os.environ.update(cfg.aws_env())  # for the tests' own boto3 calls
    try:
        stack.up(cfg)
        bootstrap.bootstrap_stack(cfg)
        live = LiveStack(cfg)
        live.pause_scheduled_dags()  # a test that runs one unpauses it
        yield live
    finally:
        stack.down(cfg)
        os.environ.clear()
        os.environ.update(saved)
