"""The Docker-free local stack as processes: MiniStack, the local Glue and MWAA APIs, and Airflow 3
(api-server, scheduler, dag-processor, triggerer; LocalExecutor on SQLite), all on 127.0.0.1.

``up`` starts what is not running and waits until everything is healthy (safe to run twice);
``down`` stops it; state and logs live under the configuration's home. The services are started as
processes (``python -m devstack.services...``), never imported.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

from devstack.core import emulator, local_tls, paths
from devstack.core.stack_config import AIRFLOW_USERS, StackConfig
from music_streaming import aws, config


def aws_connection(
    endpoint: str,
    glue_endpoint: str,
    athena_endpoint: str,
    region: str,
    mwaa_endpoint: str | None = None,
    role_arn: str | None = None,
) -> str:
    """The ``aws_default`` connection: AWS calls to the emulator, Glue and Athena (and MWAA, for
    DAGs that call an environment) to the local APIs; with ``role_arn``, as a session of that role
    (MWAA's execution role), which the provider's hook assumes through the emulator's STS and
    renews. (The Compose stack uses the same, with service hostnames.)"""
    services = {
        "glue": {"endpoint_url": glue_endpoint},
        "athena": {"endpoint_url": athena_endpoint},
    }
    if mwaa_endpoint:
        services["mwaa"] = {"endpoint_url": mwaa_endpoint}
    extra: dict = {
        "region_name": region,
        "endpoint_url": endpoint,
        "service_config": services,
        "config_kwargs": {"retries": aws.RETRY_POLICY},
    }
    if role_arn:
        services["sts"] = {"endpoint_url": endpoint}  # assuming never uses the global endpoint
        extra.update(role_arn=role_arn, assume_role_method="assume_role")
    return json.dumps(
        {
            "conn_type": "aws",
            "login": emulator.LOCAL_ACCESS_KEY,
            "password": emulator.LOCAL_SECRET_KEY,
            "extra": extra,
        }
    )


SWEEP_MINUTES = 2  # the sweeper DAG's interval on the local stacks

# Airflow settings both local stacks share (native here, Compose in docker-compose.yml; a test
# keeps them equal).
AIRFLOW_SHARED_SETTINGS = {
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": AIRFLOW_USERS,
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
    "MUSIC_PIPELINE_GLUE_POLL_SECONDS": "1",
    # a laptop wants a stuck file back sooner than MWAA's default of 5 minutes
    "MUSIC_PIPELINE_SWEEP_MINUTES": str(SWEEP_MINUTES),
}


def execution_role_arn() -> str:
    """The local MWAA environment's execution role: Airflow's tasks act as it."""
    return emulator.local_role_arn(emulator.LOCAL_ROLE_NAMES["MwaaExecutionRole"])


def _jwt_secret(cfg: StackConfig) -> str:
    """All Airflow components must share one JWT secret; made once per stack home."""
    path = cfg.airflow_home / "jwt_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def airflow_env(cfg: StackConfig) -> dict[str, str]:
    return {
        **os.environ,
        **emulator.aws_env(cfg.endpoint, cfg.region),
        **AIRFLOW_SHARED_SETTINGS,
        "AIRFLOW_HOME": str(cfg.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(paths.DAGS_DIR),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{cfg.airflow_url}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{cfg.airflow_home / 'airflow.db'}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "devstack.services.airflow_sqlite.CONNECT_ARGS",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(cfg.airflow_port),
        "AIRFLOW__API__BASE_URL": cfg.airflow_url,
        "AIRFLOW__API_AUTH__JWT_SECRET": _jwt_secret(cfg),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(cfg.airflow_home / "logs"),
        "AIRFLOW_CONN_AWS_DEFAULT": aws_connection(
            cfg.endpoint,
            cfg.glue_endpoint,
            cfg.athena_endpoint,
            cfg.region,
            role_arn=None if cfg.iam_mode == "off" else execution_role_arn(),
        ),
        "PYTHONPATH": os.pathsep.join([str(paths.GLUE_DIR), str(paths.ROOT)]),
        "MUSIC_PIPELINE_RETRY_DELAY_SECONDS": str(cfg.retry_delay_seconds),
        "NO_PROXY": "*",
    }


@dataclass
class Component:
    name: str
    port: int | None
    argv: list[str]
    env: dict[str, str]
    health_url: str | None

    def pid_file(self, cfg: StackConfig) -> Path:
        return cfg.home / "pids" / f"{self.name}.pid"

    def log_file(self, cfg: StackConfig) -> Path:
        return cfg.logs / f"{self.name}.log"


def components(cfg: StackConfig) -> list[Component]:
    tls = local_tls.files(cfg.tls_dir)
    python = str(paths.VENV_BIN / "python")
    airflow = str(paths.VENV_BIN / "airflow")
    af_env = airflow_env(cfg)
    aws = {
        **os.environ,
        **emulator.aws_env(cfg.endpoint, cfg.region),
        "PYTHONPATH": os.pathsep.join([str(paths.ROOT), str(paths.GLUE_DIR)]),
    }
    return [
        Component(
            "ministack",
            cfg.ministack_port,
            [str(paths.MINISTACK_PYTHON), str(paths.EMULATOR_IDENTITY)],
            emulator.ministack_env(
                cfg.ministack_port, cfg.home / "ministack", cfg.iam_mode, cfg.iam_audit_log
            ),
            f"{cfg.endpoint}/_ministack/health",
        ),
        Component(
            "glue-api",
            cfg.glue_port,
            [
                python,
                "-m",
                "devstack.services.glue",
                "--port",
                str(cfg.glue_port),
                "--state-dir",
                str(cfg.home / "glue"),
                "--identity-url",
                cfg.endpoint,
                "--endpoint",
                cfg.endpoint,
                "--region",
                cfg.region,
                *([] if cfg.iam_mode == "off" else ["--act-as-job-role"]),
            ],
            aws,
            f"{cfg.glue_endpoint}/health",
        ),
        Component(
            "athena-api",
            cfg.athena_port,
            [
                python,
                "-m",
                "devstack.services.athena",
                "--port",
                str(cfg.athena_port),
                "--state-dir",
                str(cfg.home / "athena"),
                "--identity-url",
                cfg.endpoint,
                "--endpoint",
                cfg.endpoint,
                "--glue-endpoint",
                cfg.glue_endpoint,
                "--region",
                cfg.region,
            ],
            aws,
            f"{cfg.athena_endpoint}/health",
        ),
        Component(
            "airflow-api-server",
            cfg.airflow_port,
            [airflow, "api-server"],
            af_env,
            f"{cfg.airflow_url}/api/v2/monitor/health",
        ),
        Component(
            "airflow-scheduler", None, [airflow, "scheduler", "--skip-serve-logs"], af_env, None
        ),
        Component("airflow-dag-processor", None, [airflow, "dag-processor"], af_env, None),
        Component(
            "airflow-triggerer", None, [airflow, "triggerer", "--skip-serve-logs"], af_env, None
        ),
        Component(
            "mwaa-api",
            cfg.mwaa_port,
            [
                python,
                "-m",
                "devstack.services.mwaa",
                "--port",
                str(cfg.mwaa_port),
                "--identity-url",
                cfg.endpoint,
                "--environment",
                config.MWAA_ENVIRONMENT_NAME,
                "--airflow-url",
                cfg.airflow_url,
                "--airflow-password-file",
                str(cfg.password_file),
                "--airflow-cli",
                airflow,
                "--airflow-version",
                importlib.metadata.version("apache-airflow"),
                "--execution-role-arn",
                execution_role_arn(),
                "--source-bucket-arn",
                f"arn:aws:s3:::{config.settings()['scripts_bucket']}",
                "--web-port",
                str(cfg.mwaa_web_port),
                "--tls-cert",
                str(tls.cert),
                "--tls-key",
                str(tls.key),
            ],
            {**af_env, "PYTHONPATH": aws["PYTHONPATH"]},
            f"{cfg.mwaa_endpoint}/health",
        ),
    ]


def component(cfg: StackConfig, name: str) -> Component:
    return next(c for c in components(cfg) if c.name == name)


def start_and_wait(part: Component, cfg: StackConfig, timeout: float = 60) -> float:
    """Starts one component unless it runs; seconds until its health URL answers."""
    if pid_of(part, cfg) is None:
        say(f"{part.name}: starting" + (f" on port {part.port}" if part.port else ""))
        start(part, cfg)
    return wait_for(part.name, lambda: http_ok(part.health_url), timeout, part, cfg)


def free_port() -> int:
    """A port free on loopback now (tests start stacks side by side with these)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pid_of(component: Component, cfg: StackConfig) -> int | None:
    """The component's pid while it runs: the pid file's process if it is still the one started
    (its start time matches: a pid alone may be another process's after a reboot); reaps it
    when it is our exited child (a zombie)."""
    try:
        pid_text, _, started = component.pid_file(cfg).read_text().partition(" ")
        pid = int(pid_text)
        if not started or abs(psutil.Process(pid).create_time() - float(started)) > 0.01:
            return None
    except (OSError, ValueError, psutil.Error):
        return None
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return None
    except ChildProcessError:
        pass  # started by another process (e.g. an earlier `scripts/up`)
    return pid


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def listening(url: str) -> bool:
    """Whether something accepts connections at the URL's host and port (any service, any answer)."""
    parsed = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 80), timeout=2):
            return True
    except OSError:
        return False


def airflow_components_healthy(cfg: StackConfig) -> bool:
    try:
        with urllib.request.urlopen(f"{cfg.airflow_url}/api/v2/monitor/health", timeout=2) as r:
            health = json.loads(r.read())
    except OSError:
        return False
    return all(
        health.get(part, {}).get("status") == "healthy"
        for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
    )


def start(component: Component, cfg: StackConfig) -> int:
    log_file = component.log_file(cfg)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    component.pid_file(cfg).parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        component.argv,
        env=component.env,
        cwd=paths.ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log_file.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    started = psutil.Process(process.pid).create_time()
    component.pid_file(cfg).write_text(f"{process.pid} {started}")
    return process.pid


def wait_for(
    what: str,
    check,
    timeout: float,
    component: Component | None = None,
    cfg: StackConfig | None = None,
) -> float:
    """Seconds until ``check()`` holds; fails early, with its log, if ``component`` exits."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        if component is not None and pid_of(component, cfg) is None:
            tail = component.log_file(cfg).read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{component.name} exited; end of its log:\n{tail}")
        time.sleep(0.2)
    raise TimeoutError(f"{what} not healthy after {timeout:.0f} s")


def say(message: str) -> None:
    print(message, flush=True)


def up(cfg: StackConfig) -> dict[str, float]:
    """Starts every component that is not running; returns seconds to healthy per stage."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    parts = {c.name: c for c in components(cfg)}
    emulator.prepare_state_dir(cfg.home / "ministack")
    cfg.iam_audit_log.parent.mkdir(parents=True, exist_ok=True)
    local_tls.ensure(cfg.tls_dir)
    if not (cfg.airflow_home / "airflow.db").exists():
        say("airflow: migrating the metadata database (first start only)")
        cfg.airflow_home.mkdir(parents=True, exist_ok=True)
        cfg.logs.mkdir(parents=True, exist_ok=True)
        with (cfg.logs / "airflow-db-migrate.log").open("ab") as log:
            subprocess.run(
                [str(paths.VENV_BIN / "airflow"), "db", "migrate"],
                env=airflow_env(cfg),
                check=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        timings["airflow db migrate"] = time.monotonic() - started
    for name in (
        "ministack",
        "glue-api",
        "athena-api",
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
    ):
        component = parts[name]
        if pid_of(component, cfg) is None:
            say(f"{name}: starting" + (f" on port {component.port}" if component.port else ""))
            start(component, cfg)
    for name in ("ministack", "glue-api", "athena-api"):
        timings[name] = start_and_wait(parts[name], cfg)
        say(f"{name}: healthy")
    timings["airflow"] = wait_for(
        "airflow", lambda: airflow_components_healthy(cfg), 120, parts["airflow-api-server"], cfg
    )
    # The first task after the api-server starts loses ~10 s unless this is called once.
    http_ok(f"{cfg.airflow_url}/execution/health")
    say("airflow: api-server, scheduler, dag-processor, triggerer healthy")
    timings["mwaa-api"] = start_and_wait(parts["mwaa-api"], cfg, 30)
    say("mwaa-api: healthy")
    timings["all healthy"] = time.monotonic() - started
    return timings


def down(cfg: StackConfig) -> None:
    """Stops the services together, then the emulator they write to (it saves its state when
    it stops): waiting for each in turn took ~21 s, mostly Airflow's graceful shutdowns."""
    parts = list(reversed(components(cfg)))
    stop([c for c in parts if c.name != "ministack"], cfg)
    stop([c for c in parts if c.name == "ministack"], cfg)


def stop(parts: list[Component], cfg: StackConfig, grace_seconds: float = 20) -> None:
    """SIGTERM to each component's process group, SIGKILL to those left after the grace time."""
    running = {}
    for component in parts:
        pid = pid_of(component, cfg)
        if pid is None:
            continue
        say(f"{component.name}: stopping (pid {pid})")
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            pass
        running[component.name] = (component, pid)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(
        pid_of(c, cfg) is not None for c, _ in running.values()
    ):
        time.sleep(0.2)
    for component, pid in running.values():
        if pid_of(component, cfg) is not None:
            os.killpg(pid, signal.SIGKILL)
        component.pid_file(cfg).unlink(missing_ok=True)


def status(cfg: StackConfig) -> list[dict]:
    rows = []
    for component in components(cfg):
        pid = pid_of(component, cfg)
        healthy = http_ok(component.health_url) if component.health_url else pid is not None
        rows.append(
            {
                "component": component.name,
                "state": "up" if pid and healthy else ("starting/unhealthy" if pid else "down"),
                "port": component.port or "-",
                "pid": pid or "-",
                "log": str(component.log_file(cfg).relative_to(paths.ROOT))
                if component.log_file(cfg).is_relative_to(paths.ROOT)
                else str(component.log_file(cfg)),
            }
        )
    return rows
