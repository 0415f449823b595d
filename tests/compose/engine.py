"""A Docker engine for the Compose end-to-end test: Debian's docker.io and docker-compose packages,
started as root with its own data, socket and pid file, and stopped with the host's network
settings (iptables, the docker0 bridge, ip_forward) restored as they were."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

PACKAGES = ("docker.io", "debootstrap", "iptables")


def why_not_here() -> str | None:
    """Why no engine can be started on this machine (the test then skips), or None."""
    if os.geteuid() != 0:
        return "the Docker engine needs root, and this user is not"
    if not shutil.which("apt-get") and not shutil.which("dockerd"):
        return "neither dockerd nor apt-get (to install Debian's docker.io) is here"
    return None


def install() -> None:
    missing = [p for p in ("dockerd", "debootstrap", "iptables-save") if not shutil.which(p)]
    if missing:
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES],
            check=True,
            stdout=subprocess.DEVNULL,
        )


def docker_cli() -> str:
    """Debian's client (it matches its daemon), not another one earlier on PATH."""
    return "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"


@contextmanager
def running_engine(home: Path):
    """Yields the environment (DOCKER_HOST) of a daemon that lives under ``home``."""
    install()
    home.mkdir(parents=True, exist_ok=True)
    home = home.resolve()  # runc refuses a root file system reached through a symlink
    saved_rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    socket = home / "docker.sock"
    log = (home / "dockerd.log").open("w")
    daemon = subprocess.Popen(
        [
            "dockerd",
            "--data-root",
            str(home / "data"),
            "--exec-root",
            str(home / "exec"),
            "--pidfile",
            str(home / "docker.pid"),
            "-H",
            f"unix://{socket}",
            "--mtu",
            "1400",  # the host's
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    env = {**os.environ, "DOCKER_HOST": f"unix://{socket}"}
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([docker_cli(), "info"], env=env, capture_output=True).returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start: see {home / 'dockerd.log'}")
            time.sleep(0.5)
        yield env
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log.close()
        subprocess.run(["iptables-restore"], input=saved_rules, text=True, check=False)
        subprocess.run(["ip", "link", "delete", "docker0"], capture_output=True, check=False)
        Path("/proc/sys/net/ipv4/ip_forward").write_text(forward)
