"""The images the Compose test runs, built here from a debootstrapped Debian (no registry is
reachable): stand-ins for the upstream bases (.ci/images/*.Dockerfile) with the native stack's
pins, then the project's own images on top of them, as users build them on the upstream ones."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from engine import docker_cli

from devstack.core import paths

IMAGES_DIR = paths.ROOT / ".ci" / "images"
DEBIAN_IMAGE = "local/bookworm:base"
# name -> (Dockerfile, build arguments: another base by its name, or DEBIAN_IMAGE); in this order.
BASES = {
    "python": ("python.Dockerfile", {"DEBIAN_IMAGE": DEBIAN_IMAGE}),
    "airflow-base": ("airflow.Dockerfile", {"PYTHON_IMAGE": "python"}),
    "glue-base": ("glue.Dockerfile", {"PYTHON_IMAGE": "python"}),
    "ministack": ("ministack.Dockerfile", {"PYTHON_IMAGE": "python"}),
    "postgres": ("postgres.Dockerfile", {"DEBIAN_IMAGE": DEBIAN_IMAGE}),
}


def run(argv: list[str], env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, check=True, **kwargs)


def has_image(tag: str, env: dict) -> bool:
    return (
        subprocess.run(
            [docker_cli(), "image", "inspect", tag], env=env, capture_output=True
        ).returncode
        == 0
    )


def debian_base(env: dict) -> None:
    if has_image(DEBIAN_IMAGE, env):
        return
    with tempfile.TemporaryDirectory() as root:
        run(["debootstrap", "--variant=minbase", "bookworm", root], env, stdout=subprocess.DEVNULL)
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        run([docker_cli(), "import", "-", DEBIAN_IMAGE], env, stdin=tar.stdout)
        tar.wait()


# What each base's build context holds besides its Dockerfile (contexts are sent whole: keep small).
CONTEXT = {
    "python.Dockerfile": ("python", "ca-certificates"),
    "airflow.Dockerfile": ("constraints.txt",),
    "glue.Dockerfile": ("constraints.txt", "jars"),
    "ministack.Dockerfile": ("ministack.txt",),
    "postgres.Dockerfile": ("postgres-entrypoint.sh",),
}


def host_certificates(target: Path) -> None:
    """The host's extra CA certificates (this sandbox's egress proxy, or a corporate one) copied
    to ``target``, where an image build trusts them."""
    for crt in Path("/usr/local/share/ca-certificates").glob("*.crt"):
        shutil.copy(crt, target)


def stage(name: str, target: Path) -> None:
    """One item of a build context: the host's Python (without its site-packages), the host's
    extra CA certificates, the pins, the S3A jars, a script of .ci/images."""
    if name == "python":
        shutil.copytree(
            Path(sys.base_prefix),
            target,
            symlinks=True,
            ignore=shutil.ignore_patterns(
                "site-packages", "test", "__pycache__", "idlelib", "tkinter"
            ),
        )
        (target / "lib" / "python3.11" / "site-packages").mkdir()
    elif name == "ca-certificates":
        target.mkdir()
        host_certificates(target)
    elif name == "jars":
        shutil.copytree(paths.JARS_DIR, target)
    elif name.endswith(".txt"):
        shutil.copy(paths.ROOT / "requirements" / name, target)
    else:
        shutil.copy(IMAGES_DIR / name, target)


def build_bases(env: dict, work: Path) -> tuple[dict[str, str], dict[str, float]]:
    """Builds what is missing. Tags name a digest of what makes the image (its Dockerfile, context
    files, arguments, the parent's tag), so a change rebuilds it and its children, and an
    unchanged one is reused from the engine's data. Images whose parent is ready build at the same
    time (their pip installs mostly wait on the network). (tag by name, seconds per image built)"""
    debian_base(env)
    tags, builds = {}, {}
    for name, (dockerfile, args) in BASES.items():
        args = {key: tags.get(value, value) for key, value in args.items()}
        args["PYTHON_PREFIX"] = sys.base_prefix
        directory = work / "contexts" / name
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        for item in CONTEXT[dockerfile]:
            stage(item, directory / item)
        inputs = hashlib.sha256((IMAGES_DIR / dockerfile).read_bytes())
        inputs.update(repr(sorted(args.items())).encode())
        for item in sorted(CONTEXT[dockerfile]):
            if item not in ("python", "jars"):  # the interpreter and jars are named by the args
                inputs.update(tree_digest(directory / item).encode())
        tags[name] = f"local/{name}:ci-{inputs.hexdigest()[:12]}"
        if not has_image(tags[name], env):
            recipe = str(IMAGES_DIR / dockerfile)
            argv = [docker_cli(), "build", "-q", "-t", tags[name], "-f", recipe]
            for key, value in args.items():
                argv += ["--build-arg", f"{key}={value}"]
            parent = next((base for base in BASES[name][1].values() if base in BASES), None)
            builds[name] = (parent, [*argv, str(directory)])
    seconds: dict[str, float] = {}

    def build(name: str, parent: Future | None) -> None:
        if parent:
            parent.result()  # raises if the parent's build failed
        started = time.monotonic()
        run(builds[name][1], env, stdout=subprocess.DEVNULL)
        seconds[tags[name]] = round(time.monotonic() - started, 1)

    with ThreadPoolExecutor(max(len(builds), 1)) as pool:
        futures: dict[str, Future] = {}
        for name, (parent, _argv) in builds.items():  # a parent comes before its children
            futures[name] = pool.submit(build, name, futures.get(parent))
        for future in futures.values():
            future.result()
    return tags, seconds


def tree_digest(path: Path) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + file.read_bytes())
    return digest.hexdigest()
