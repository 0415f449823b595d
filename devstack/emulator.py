"""MiniStack, the AWS API emulator of the native stack, as a local process on loopback."""
from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path

from devstack import paths

LOCAL_REGION = "us-east-1"
# An emulator accepts any key; these are placeholders, not credentials.
LOCAL_ACCESS_KEY = "local"
LOCAL_SECRET_KEY = "local"


def aws_env(endpoint: str, region: str = LOCAL_REGION) -> dict[str, str]:
    """Environment that points boto3, the AWS CLI and Spark jobs at a local endpoint."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY, "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region}


def healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/_ministack/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def wait_healthy(endpoint: str, timeout: float = 30, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if healthy(endpoint):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"MiniStack exited with {process.returncode}")
        time.sleep(0.1)
    raise TimeoutError(f"MiniStack at {endpoint} not healthy after {timeout} s")


STATE_SUBDIRS = ("tmp", "state", "s3")


def ministack_env(port: int, state_dir: Path) -> dict[str, str]:
    """MiniStack's settings: loopback only, state (S3 objects included) kept under state_dir."""
    return {**os.environ, "GATEWAY_PORT": str(port), "BIND_HOST": "127.0.0.1",
            "TMPDIR": str(state_dir / "tmp"), "PERSIST_STATE": "1",
            "STATE_DIR": str(state_dir / "state"), "S3_PERSIST": "1",
            "S3_DATA_DIR": str(state_dir / "s3"), "LOG_LEVEL": "WARNING"}


def prepare_state_dir(state_dir: Path) -> None:
    for sub in STATE_SUBDIRS:
        (state_dir / sub).mkdir(parents=True, exist_ok=True)


def start(port: int, state_dir: Path, log_file: Path) -> subprocess.Popen:
    """Starts MiniStack with persistent state under ``state_dir``; returns once healthy."""
    prepare_state_dir(state_dir)
    env = ministack_env(port, state_dir)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([str(paths.MINISTACK_BIN)], env=env, stdin=subprocess.DEVNULL,
                               stdout=log_file.open("ab"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    wait_healthy(f"http://127.0.0.1:{port}", process=process)
    return process
