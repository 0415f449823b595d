"""The run supervisor's signals reach a run's whole process group, and only the process that was
started: a pid alone (recycled after an exit or a reboot) is never trusted, here or in the
stack's pid files."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from devstack.core.stack_config import StackConfig
from devstack.runtime import stack
from devstack.services.glue import supervisor

SLEEP = "import time; time.sleep(300)"
TREE = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {SLEEP!r}]); {SLEEP}"


def start_tree() -> tuple[subprocess.Popen, psutil.Process]:
    """A run's shape: a leader in its own group with a child of its own (Spark's JVM)."""
    leader = subprocess.Popen([sys.executable, "-c", TREE], start_new_session=True)
    deadline = time.monotonic() + 20
    while not psutil.Process(leader.pid).children() and time.monotonic() < deadline:
        time.sleep(0.05)
    (child,) = psutil.Process(leader.pid).children()
    return leader, child


def test_a_stop_ends_the_whole_group_not_only_its_leader():
    leader, child = start_tree()
    supervisor.stop_group(leader.pid, supervisor.process_identity(leader.pid), grace_seconds=5)
    assert leader.wait(timeout=10) is not None
    child.wait(timeout=10)  # raises psutil.TimeoutExpired if the grandchild outlived the stop
    assert not child.is_running()


def test_a_stop_leaves_alone_a_process_that_is_not_the_one_started():
    leader, child = start_tree()
    try:
        supervisor.stop_group(leader.pid, "another boot:another start", grace_seconds=1)
        time.sleep(0.5)
        assert leader.poll() is None and child.is_running()
    finally:
        supervisor.stop_group(leader.pid, supervisor.process_identity(leader.pid), 5)
        leader.wait(timeout=10)


def test_a_pid_file_whose_process_started_at_another_time_is_not_trusted(tmp_path):
    cfg = StackConfig.from_env({"MUSIC_STACK_HOME": str(tmp_path)})
    part = stack.component(cfg, "glue-api")
    part.pid_file(cfg).parent.mkdir(parents=True, exist_ok=True)
    me = psutil.Process()
    part.pid_file(cfg).write_text(f"{me.pid} {me.create_time()}")
    assert stack.pid_of(part, cfg) == me.pid
    part.pid_file(cfg).write_text(f"{me.pid} {me.create_time() - 3600}")  # a recycled pid
    assert stack.pid_of(part, cfg) is None
    part.pid_file(cfg).write_text(f"{me.pid}")  # the old format: a pid alone
    assert stack.pid_of(part, cfg) is None
