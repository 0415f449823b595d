"""Static checks of the Compose stack (no Docker engine here): schema, paths, pinned images,
loopback-only ports, no committed secrets, and the same settings as the native stack."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from devstack.core import paths
from devstack.runtime import stack
from music_streaming import config

COMPOSE = paths.ROOT / "docker-compose.yml"


def dotenv(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {k.strip(): v.strip() for k, v in pairs}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{([A-Z_]+)(:?[?-][^}]*)?\}", lambda m: env.get(m[1], m[0]), value)


def test_compose_file_matches_the_compose_specification():
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_images_are_pinned(compose):
    env = dotenv(paths.ROOT / ".env")
    for name, service in compose["services"].items():
        # a built image is as pinned as its base (the build argument)
        references = list(service.get("build", {}).get("args", {}).values()) or [service["image"]]
        for reference in references:
            image = interpolate(reference, env)
            assert "$" not in image, f"{name}: {reference} not set in .env"
            tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
            assert tag and tag != "latest", f"{name}: image {image} is not pinned"
    assert dotenv(paths.ROOT / ".env")["LOCALSTACK_IMAGE"] == "localstack/localstack:4.14.0"


def test_mounted_paths_and_commands_exist(compose):
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (paths.ROOT / source).exists(), f"{name} mounts missing {source}"
        command = service.get("command") or []
        if isinstance(command, list) and "-m" in command:
            module = command[command.index("-m") + 1]
            source = paths.ROOT / module.replace(".", "/")
            assert source.with_suffix(".py").exists() or (source / "__main__.py").exists(), module
    hook = paths.ROOT / "localstack" / "init" / "ready.d" / "10-bootstrap.sh"
    assert hook.stat().st_mode & 0o111, "init hook must be executable"
    assert "devstack bootstrap aws" in hook.read_text()


def test_ports_listen_on_loopback_only(compose):
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"


def test_no_secrets_committed(compose):
    committed = dotenv(paths.ROOT / ".env")
    assert not [k for k in committed if re.search("PASSWORD|SECRET|TOKEN", k)]
    assert ":?" not in COMPOSE.read_text(), "plain `docker compose up` must need no variable"


def test_secrets_are_generated_once_and_read_from_the_secrets_volume(compose):
    """Postgres and every Airflow component read the generated secrets; Airflow through _CMD,
    which it honours for sensitive options only."""
    from airflow.configuration import conf

    generator = compose["services"]["stack-secrets"]
    script = generator["command"][-1]
    assert "if not p.exists()" in script and "token_hex" in script
    files = {"postgres_password", "jwt_secret"}
    assert all(f'"{name}"' in script for name in files)
    postgres = compose["services"]["postgres"]
    assert (
        postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/stack-secrets/postgres_password"
    )
    assert postgres["depends_on"]["stack-secrets"]["condition"] == "service_completed_successfully"
    airflow_env = compose["services"]["airflow-scheduler"]["environment"]
    for section, option in (("database", "sql_alchemy_conn"), ("api_auth", "jwt_secret")):
        assert (section, option) in conf.sensitive_config_values
        command = airflow_env[f"AIRFLOW__{section.upper()}__{option.upper()}_CMD"]
        assert "/run/stack-secrets/" in command
        assert f"AIRFLOW__{section.upper()}__{option.upper()}" not in airflow_env
    assert (
        "stack-secrets:/run/stack-secrets:ro" in compose["services"]["airflow-scheduler"]["volumes"]
    )


def test_airflow_settings_agree_with_the_native_stack(compose):
    airflow_env = compose["services"]["airflow-scheduler"]["environment"]
    for key, value in stack.AIRFLOW_SHARED_SETTINGS.items():
        assert airflow_env[key] == value, key
    assert json.loads(airflow_env["AIRFLOW_CONN_AWS_DEFAULT"]) == json.loads(
        stack.aws_connection(
            "http://localstack:4566",
            "http://glue:4580",
            "http://athena-api:4595",
            config.DEFAULT_REGION,
        )
    )
    for name in (
        "airflow-apiserver",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-init",
        "mwaa-api",
        "athena-api",
    ):
        assert compose["services"][name]["environment"] == airflow_env, name


def test_services_wire_the_same_names(compose):
    mwaa = compose["services"]["mwaa-api"]["command"]
    assert mwaa[mwaa.index("--environment") + 1] == config.MWAA_ENVIRONMENT_NAME
    hook = (paths.ROOT / "localstack" / "init" / "ready.d" / "10-bootstrap.sh").read_text()
    assert "http://mwaa-api:4590" in hook
    assert (
        compose["services"]["localstack"]["environment"]["LAMBDA_DOCKER_NETWORK"]
        == compose["networks"]["default"]["name"]
    )
    for name in ("localstack", "glue", "postgres", "airflow-apiserver", "mwaa-api", "athena-api"):
        assert "healthcheck" in compose["services"][name], name
    assert set(compose["volumes"]) >= {"localstack-data", "postgres-data", "glue-state"}


def test_building_a_stack_client_leaves_the_shared_retry_settings_alone():
    """botocore rewrites the retries dict it is given; the connection both stacks share must
    still say max_attempts (the full suite once built a client first and the check above failed)."""
    from devstack.core.stack_config import StackConfig
    from music_streaming import aws

    StackConfig().client("s3")
    aws.client("s3", "us-east-1")
    assert aws.RETRY_POLICY == {"mode": "standard", "max_attempts": 10}


def test_the_secret_generator_makes_each_secret_once(compose, tmp_path):
    """The generator's own script, run twice on a folder standing in for the volume."""
    script = compose["services"]["stack-secrets"]["command"][-1]
    script = script.replace("/run/stack-secrets", str(tmp_path))
    subprocess.run([sys.executable, "-c", script], check=True)
    first = {p.name: p.read_text() for p in tmp_path.iterdir()}
    subprocess.run([sys.executable, "-c", script], check=True)
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == first
    assert set(first) == {"postgres_password", "jwt_secret"}
    assert all(len(value) == 64 and value.isalnum() for value in first.values())
