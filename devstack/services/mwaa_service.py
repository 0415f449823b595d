"""A local Amazon MWAA API in front of the local Airflow: CreateCliToken + ``/aws_mwaa/cli`` (runs
the Airflow CLI, answers with base64 stdout/stderr as MWAA does) and InvokeRestApi (forwards path,
method, query and body to the Airflow REST API with a real token).

    python -m devstack.services.mwaa_service --port 4590 --environment NAME --airflow-url URL \
        --airflow-user admin --airflow-password-file FILE
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import re
import secrets
import shlex
import subprocess
import time
import urllib.parse
from pathlib import Path

from devstack.core.airflow_api import Airflow
from devstack.services import http_api
from devstack.services.http_api import ApiError
from music_streaming import config

log = logging.getLogger("mwaa_service")
CLI_TOKEN_SECONDS = 60
# MWAA accepts a fixed list of CLI commands; these are the ones it documents for Airflow 2/3.
ALLOWED_CLI = (
    {
        ("dags", c)
        for c in (
            "trigger",
            "list",
            "list-runs",
            "state",
            "pause",
            "unpause",
            "next-execution",
            "report",
            "show",
        )
    }
    | {("tasks", c) for c in ("list", "states-for-dag-run", "state")}
    | {("variables", c) for c in ("get", "list", "set")}
    | {("version",)}
)


class Mwaa:
    def __init__(self, environment: str, airflow: Airflow, airflow_cli: list[str], port: int):
        self.environment, self.airflow, self.airflow_cli, self.port = (
            environment,
            airflow,
            airflow_cli,
            port,
        )
        self.cli_tokens: dict[str, float] = {}

    def check_environment(self, name: str) -> None:
        if urllib.parse.unquote(name) != self.environment:
            raise ApiError(404, "ResourceNotFoundException", f"Environment {name} not found")

    def create_cli_token(self, name: str) -> dict:
        self.check_environment(name)
        token = secrets.token_urlsafe(32)
        now = time.time()
        self.cli_tokens = {
            t: at for t, at in self.cli_tokens.items() if now - at < CLI_TOKEN_SECONDS
        }
        self.cli_tokens[token] = now
        return {"CliToken": token, "WebServerHostname": f"127.0.0.1:{self.port}"}

    def invoke_rest_api(self, name: str, request: dict) -> dict:
        self.check_environment(name)
        path = request["Path"] if request["Path"].startswith("/") else "/" + request["Path"]
        status, response = self.airflow.call(
            request["Method"], path, request.get("QueryParameters"), request.get("Body")
        )
        if status >= 400:
            kind = "RestApiClientException" if status < 500 else "RestApiServerException"
            raise ApiError(
                400,
                kind,
                f"Airflow answered {status}",
                {"RestApiStatusCode": status, "RestApiResponse": response},
            )
        return {"RestApiStatusCode": status, "RestApiResponse": response}

    def run_cli(self, token: str, command: str) -> dict:
        issued = self.cli_tokens.get(token)
        if issued is None or time.time() - issued > CLI_TOKEN_SECONDS:
            raise ApiError(403, "Forbidden", "invalid or expired CLI token")
        words = shlex.split(command)
        if tuple(words[:2]) not in ALLOWED_CLI and tuple(words[:1]) not in ALLOWED_CLI:
            raise ApiError(400, "BadRequest", f"command not allowed: {' '.join(words[:2])}")
        result = subprocess.run(
            [*self.airflow_cli, *words], capture_output=True, timeout=120, stdin=subprocess.DEVNULL
        )
        return {
            "stdout": base64.b64encode(result.stdout).decode(),
            "stderr": base64.b64encode(result.stderr).decode(),
        }


ROUTES = [
    (re.compile(r"^/clitoken/([^/]+)$"), "clitoken"),
    (re.compile(r"^/restapi/([^/]+)$"), "restapi"),
]


def service(mwaa: Mwaa) -> http_api.Service:
    """MWAA's REST routes: /clitoken/{name}, /restapi/{name}, and the web server's /aws_mwaa/cli."""

    def handle(request: http_api.Request) -> dict:
        if request.path == CLI_PATH:
            token = request.header("Authorization").removeprefix("Bearer ").strip()
            return mwaa.run_cli(token, request.body.decode())
        for pattern, route in ROUTES:
            match = pattern.match(request.path)
            if match and route == "clitoken":
                return mwaa.create_cli_token(match[1])
            if match and route == "restapi":
                return mwaa.invoke_rest_api(match[1], request.json())
        raise ApiError(404, "ResourceNotFoundException", f"no route {request.path}")

    return handle


# The web server's CLI endpoint authenticates by the token CreateCliToken (a signed call) issued.
CLI_PATH = "/aws_mwaa/cli"


def handler_class(mwaa: Mwaa, guard: http_api.Guard):
    return http_api.handler_class(
        service(mwaa),
        lambda: {"status": "healthy", "environment": mwaa.environment},
        "application/json",
        "ValidationException",
        guard,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    http_api.add_guard_arguments(parser)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--region", default=config.DEFAULT_REGION)
    parser.add_argument("--environment", required=True)
    parser.add_argument("--airflow-url", required=True)
    parser.add_argument("--airflow-user", required=True)
    parser.add_argument("--airflow-password-file", type=Path, required=True)
    parser.add_argument("--airflow-cli", default="airflow", help="command that runs the CLI")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    mwaa = Mwaa(
        args.environment,
        Airflow(args.airflow_url, args.airflow_user, args.airflow_password_file),
        shlex.split(args.airflow_cli),
        args.port,
    )
    log.info(
        "local MWAA API for %r on http://%s:%d -> %s",
        args.environment,
        args.host,
        args.port,
        args.airflow_url,
    )
    guard = http_api.guard_from(args, "airflow", args.region, os.environ, (CLI_PATH,))
    http_api.serve(args.host, args.port, handler_class(mwaa, guard))


if __name__ == "__main__":
    main()
