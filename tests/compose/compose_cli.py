"""Compose v2, which the stack's file needs (project `name`, `!reset`/`!override` in the CI layer):
not packaged anywhere reachable here, so built once from the Go module proxy and kept."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

VERSION = "v2.40.3"
MODULE = "github.com/docker/compose/v2"


def ensure(work: Path) -> Path:
    """The path of a docker-compose binary of VERSION under ``work`` (built if missing)."""
    binary = work / f"docker-compose-{VERSION}"
    if binary.exists():
        return binary
    if not shutil.which("go"):
        raise FileNotFoundError("no Go toolchain to build Compose v2 from the module proxy")
    go = work / "go"
    env = {
        **os.environ,
        "GOPATH": str(go / "path"),
        "GOMODCACHE": str(go / "modcache"),
        "GOFLAGS": "-mod=mod",
        "CGO_ENABLED": "0",
    }
    subprocess.run(
        ["go", "mod", "download", f"{MODULE}@{VERSION}"], env=env, check=True, capture_output=True
    )
    source = go / "src"
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(go / "modcache" / "github.com" / "docker" / "compose" / f"v2@{VERSION}", source)
    for path in [source, *source.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)  # the module cache is read-only
    subprocess.run(
        [
            "go",
            "build",
            "-trimpath",
            "-ldflags",
            f"-s -w -X {MODULE}/internal.Version={VERSION}",
            "-o",
            str(binary),
            "./cmd",
        ],
        cwd=source,
        env=env,
        check=True,
        capture_output=True,
    )
    return binary
