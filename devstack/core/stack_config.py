"""The local stack's one configuration: where it lives, its ports, its region and Airflow user.

Read from the environment once, by the CLI (``StackConfig.from_env``), then passed down; AWS
clients for the stack are built from it (``client``/``resource``), never from a mutated
``os.environ``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import boto3
from botocore.config import Config

from devstack.core import emulator, paths
from music_streaming import aws, config

AIRFLOW_USER = "admin"
# One Airflow user per MWAA role but Public (which may do nothing): the local MWAA API acts as the
# role IAM grants a caller (role/{environment}/{role}), as MWAA maps it. The trigger Lambda is
# granted User: trigger and read DAG runs; no Variables, Connections or configuration.
MWAA_AIRFLOW_ROLES = ("Admin", "Op", "User", "Viewer", "Public")  # most privileged first


def mwaa_airflow_user(role: str) -> str | None:
    """The Airflow user an MWAA role acts through (Public has no permissions, so no user)."""
    return None if role == "Public" else f"mwaa_{role.lower()}"


AIRFLOW_USERS = ",".join(
    [f"{AIRFLOW_USER}:admin"]
    + [f"{mwaa_airflow_user(r)}:{r.lower()}" for r in MWAA_AIRFLOW_ROLES if mwaa_airflow_user(r)]
)


@dataclass(frozen=True)
class StackConfig:
    home: Path = paths.ROOT / ".stack"
    ministack_port: int = 4566
    glue_port: int = 4580
    mwaa_port: int = 4590
    mwaa_web_port: int = 4591  # the MWAA environment's web server, over HTTPS
    athena_port: int = 4595
    airflow_port: int = 8080
    region: str = config.DEFAULT_REGION
    # Local tuning of the DAGs: a short retry delay.
    retry_delay_seconds: int = 5
    # IAM on the emulator: "audit" records every call a component makes as its role (for
    # scripts/iam-check) and lets it through, "enforce" refuses what AWS would, "off" neither.
    iam_mode: str = "audit"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> StackConfig:
        """MUSIC_STACK_HOME and MUSIC_STACK_{MINISTACK,GLUE,MWAA,MWAA_WEB,ATHENA,AIRFLOW}_PORT
        override the defaults (state under .stack/, ports 4566, 4580, 4590, 4591, 4595, 8080)."""
        default = cls()
        return cls(
            home=Path(environ.get("MUSIC_STACK_HOME", default.home)),
            ministack_port=int(environ.get("MUSIC_STACK_MINISTACK_PORT", default.ministack_port)),
            glue_port=int(environ.get("MUSIC_STACK_GLUE_PORT", default.glue_port)),
            mwaa_port=int(environ.get("MUSIC_STACK_MWAA_PORT", default.mwaa_port)),
            mwaa_web_port=int(environ.get("MUSIC_STACK_MWAA_WEB_PORT", default.mwaa_web_port)),
            athena_port=int(environ.get("MUSIC_STACK_ATHENA_PORT", default.athena_port)),
            airflow_port=int(environ.get("MUSIC_STACK_AIRFLOW_PORT", default.airflow_port)),
            retry_delay_seconds=int(
                environ.get("MUSIC_STACK_RETRY_DELAY_SECONDS", default.retry_delay_seconds)
            ),
            iam_mode=environ.get("MUSIC_STACK_IAM_MODE", default.iam_mode),
        )

    def to_env(self) -> dict[str, str]:
        """The MUSIC_STACK_* settings ``from_env`` reads back: this stack for a child command."""
        return {
            "MUSIC_STACK_HOME": str(self.home),
            "MUSIC_STACK_MINISTACK_PORT": str(self.ministack_port),
            "MUSIC_STACK_GLUE_PORT": str(self.glue_port),
            "MUSIC_STACK_MWAA_PORT": str(self.mwaa_port),
            "MUSIC_STACK_MWAA_WEB_PORT": str(self.mwaa_web_port),
            "MUSIC_STACK_ATHENA_PORT": str(self.athena_port),
            "MUSIC_STACK_AIRFLOW_PORT": str(self.airflow_port),
            "MUSIC_STACK_RETRY_DELAY_SECONDS": str(self.retry_delay_seconds),
            "MUSIC_STACK_IAM_MODE": self.iam_mode,
        }

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ministack_port}"

    @property
    def glue_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.glue_port}"

    @property
    def mwaa_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.mwaa_port}"

    @property
    def athena_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.athena_port}"

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.airflow_port}"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def iam_audit_log(self) -> Path:
        """Every call a component made as its role (one JSON line each), in audit/enforce mode."""
        return self.home / "iam" / "calls.jsonl"

    @property
    def tls_dir(self) -> Path:
        """The stack's own certificate authority and the MWAA web server's certificate."""
        return self.home / "tls"

    @property
    def password_file(self) -> Path:
        return self.airflow_home / "simple_auth_manager_passwords.json.generated"

    def aws_env(self) -> dict[str, str]:
        """For child processes and the AWS CLI: the emulator, with placeholder keys."""
        return emulator.aws_env(self.endpoint, self.region)

    def cli_env(self) -> dict[str, str]:
        """For the AWS CLI and SDKs a user points at the stack (``scripts/stack-env``): every
        service's endpoint (Glue, Athena and MWAA are the local APIs, the rest MiniStack), and no host
        prefix (botocore would call MWAA's InvokeRestApi at ``env.127.0.0.1``)."""
        return {
            **self.aws_env(),
            "AWS_ENDPOINT_URL_GLUE": self.glue_endpoint,
            "AWS_ENDPOINT_URL_ATHENA": self.athena_endpoint,
            "AWS_ENDPOINT_URL_MWAA": self.mwaa_endpoint,
            "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
        }

    def client(self, service: str, credentials: dict | None = None):
        """A boto3 client of the stack (Glue, Athena and MWAA at the local APIs, the rest at
        MiniStack), signing as the root unless given other ``credentials`` (boto3's
        ``aws_access_key_id``, ``aws_secret_access_key``, ``aws_session_token``)."""
        endpoint = {
            "glue": self.glue_endpoint,
            "athena": self.athena_endpoint,
            "mwaa": self.mwaa_endpoint,
        }.get(service, self.endpoint)
        arguments = {**self._session_arguments(), **(credentials or {})}
        if service == "mwaa":  # botocore would call env.<host>, a name the local API does not have
            arguments["config"] = arguments["config"].merge(Config(inject_host_prefix=False))
        return boto3.client(service, endpoint_url=endpoint, **arguments)

    def resource(self, service: str):
        return boto3.resource(service, endpoint_url=self.endpoint, **self._session_arguments())

    def _session_arguments(self) -> dict:
        return {
            "region_name": self.region,
            "aws_access_key_id": emulator.LOCAL_ACCESS_KEY,
            "aws_secret_access_key": emulator.LOCAL_SECRET_KEY,
            "config": aws.retrying(),
        }
