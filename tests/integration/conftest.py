"""Integration fixtures: MiniStack over HTTP on loopback, jobs run as Glue runs them."""

from __future__ import annotations

import os

import boto3
import pytest
from emulators import own_emulator
from job_stack import Stack

from devstack.core import emulator
from devstack.core.stack_config import StackConfig
from devstack.provision import package
from devstack.runtime import stack as local_stack


@pytest.fixture(scope="module")
def enforcing_endpoint(tmp_path_factory):
    """MiniStack refusing what IAM denies (the stack's ``enforce`` mode); yields its config."""
    with own_emulator(tmp_path_factory.mktemp("enforcing"), "enforce") as cfg:
        yield cfg


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory):
    """MiniStack alone, started as the stack starts it; boto3 in the tests finds it through the
    environment (as the job subprocesses do)."""
    cfg = StackConfig(home=tmp_path_factory.mktemp("stack"), ministack_port=local_stack.free_port())
    ministack = local_stack.component(cfg, "ministack")
    emulator.prepare_state_dir(cfg.home / "ministack")
    local_stack.start_and_wait(ministack, cfg, 30)
    saved = {k: os.environ.get(k) for k in cfg.aws_env()}
    os.environ.update(cfg.aws_env())
    yield cfg.endpoint
    local_stack.stop([ministack], cfg)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def package_zip(tmp_path_factory):
    return package.build_package_zip(tmp_path_factory.mktemp("build"))


@pytest.fixture
def stack(endpoint, package_zip, tmp_path):
    return Stack(endpoint, package_zip, tmp_path)


@pytest.fixture
def script_bucket(endpoint):
    s3 = boto3.client("s3")
    name = f"glue-scripts-{local_stack.free_port()}"
    s3.create_bucket(Bucket=name)
    scripts = {
        "echo.py": "import sys, time\nprint('ARGS', sys.argv[1:], flush=True)\ntime.sleep(2)\n",
        "fail.py": "raise ValueError('bad input row 7')\n",
        "slow.py": "import time\ntime.sleep(60)\n",
    }
    for key, body in scripts.items():
        s3.put_object(Bucket=name, Key=key, Body=body.encode())
    return name
