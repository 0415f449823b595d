"""Integration fixtures: MiniStack over HTTP on loopback, jobs run as Glue runs them."""
from __future__ import annotations

import os

import pytest

from devstack import emulator, package
from devstack.stack import free_port
from job_stack import Stack


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory):
    state = tmp_path_factory.mktemp("ministack")
    port = free_port()
    process = emulator.start(port, state, state / "ministack.log")
    url = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in emulator.aws_env(url)}
    os.environ.update(emulator.aws_env(url))
    yield url
    process.terminate()
    process.wait(timeout=10)
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
