"""A local Amazon MWAA API in front of the local Airflow: CreateCliToken + ``/aws_mwaa/cli`` (runs
the Airflow CLI, answers with base64 stdout/stderr as MWAA does) and InvokeRestApi (forwards path,
method, query and body to the Airflow REST API with a real token).

    python -m devstack.mwaa_service --port 4590 --environment NAME --airflow-url URL \
        --airflow-user admin --airflow-password-file FILE
"""
from __future__ import annotations

import argparse
import base64
import json
import logging
import re
import secrets
import shlex
import signal
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from devstack.airflow_api import Airflow

log = logging.getLogger("mwaa_service")
CLI_TOKEN_SECONDS = 60
# MWAA accepts a fixed list of CLI commands; these are the ones it documents for Airflow 2/3.
ALLOWED_CLI = {("dags", c) for c in ("trigger", "list", "list-runs", "state", "pause", "unpause",
                                     "next-execution", "report", "show")} | \
    {("tasks", c) for c in ("list", "states-for-dag-run", "state")} | \
    {("variables", c) for c in ("get", "list", "set")} | {("version",)}


class Mwaa:
    def __init__(self, environment: str, airflow: Airflow, airflow_cli: list[str], port: int):
        self.environment, self.airflow, self.airflow_cli, self.port = (environment, airflow,
                                                                        airflow_cli, port)
        self.cli_tokens: dict[str, float] = {}

    def check_environment(self, name: str) -> None:
        if urllib.parse.unquote(name) != self.environment:
            raise MwaaError(404, "ResourceNotFoundException", f"Environment {name} not found")

    def create_cli_token(self, name: str) -> dict:
        self.check_environment(name)
        token = secrets.token_urlsafe(32)
        now = time.time()
        self.cli_tokens = {t: at for t, at in self.cli_tokens.items()
                           if now - at < CLI_TOKEN_SECONDS}
        self.cli_tokens[token] = now
        return {"CliToken": token, "WebServerHostname": f"127.0.0.1:{self.port}"}

    def invoke_rest_api(self, name: str, request: dict) -> dict:
        self.check_environment(name)
        path = request["Path"] if request["Path"].startswith("/") else "/" + request["Path"]
        status, response = self.airflow.call(request["Method"], path,
                                             request.get("QueryParameters"), request.get("Body"))
        if status >= 400:
            kind = "RestApiClientException" if status < 500 else "RestApiServerException"
            raise MwaaError(400, kind, f"Airflow answered {status}",
                            {"RestApiStatusCode": status, "RestApiResponse": response})
        return {"RestApiStatusCode": status, "RestApiResponse": response}

    def run_cli(self, token: str, command: str) -> dict:
        issued = self.cli_tokens.get(token)
        if issued is None or time.time() - issued > CLI_TOKEN_SECONDS:
            raise MwaaError(403, "Forbidden", "invalid or expired CLI token")
        words = shlex.split(command)
        if tuple(words[:2]) not in ALLOWED_CLI and tuple(words[:1]) not in ALLOWED_CLI:
            raise MwaaError(400, "BadRequest", f"command not allowed: {' '.join(words[:2])}")
        result = subprocess.run([*self.airflow_cli, *words], capture_output=True, timeout=120,
                                stdin=subprocess.DEVNULL)
        return {"stdout": base64.b64encode(result.stdout).decode(),
                "stderr": base64.b64encode(result.stderr).decode()}


class MwaaError(Exception):
    def __init__(self, status: int, kind: str, message: str, extra: dict | None = None):
        super().__init__(message)
        self.status, self.kind, self.message, self.extra = status, kind, message, extra or {}


def make_handler(mwaa: Mwaa):
    routes = [(re.compile(r"^/clitoken/([^/]+)$"), "clitoken"),
              (re.compile(r"^/restapi/([^/]+)$"), "restapi")]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            log.info(fmt, *args)

        def _reply(self, status: int, body: dict, kind: str | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if kind:
                self.send_header("X-Amzn-ErrorType", kind)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.rstrip("/") in ("", "/health"):
                self._reply(200, {"status": "healthy", "environment": mwaa.environment})
            else:
                self._reply(404, {"message": "not found"}, "ResourceNotFoundException")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = urllib.parse.urlsplit(self.path).path
            try:
                if path == "/aws_mwaa/cli":
                    auth = self.headers.get("Authorization", "")
                    self._reply(200, mwaa.run_cli(auth.removeprefix("Bearer ").strip(),
                                                  raw.decode()))
                    return
                for pattern, route in routes:
                    match = pattern.match(path)
                    if match and route == "clitoken":
                        self._reply(200, mwaa.create_cli_token(match[1]))
                        return
                    if match and route == "restapi":
                        self._reply(200, mwaa.invoke_rest_api(match[1], json.loads(raw or b"{}")))
                        return
                self._reply(404, {"message": f"no route {path}"}, "ResourceNotFoundException")
            except MwaaError as exc:
                self._reply(exc.status, {"message": exc.message, **exc.extra}, exc.kind)
            except Exception as exc:  # noqa: BLE001
                log.exception("request %s failed", path)
                self._reply(500, {"message": str(exc)}, "InternalServerException")

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--environment", required=True)
    parser.add_argument("--airflow-url", required=True)
    parser.add_argument("--airflow-user", default="admin")
    parser.add_argument("--airflow-password-file", type=Path, required=True)
    parser.add_argument("--airflow-cli", default="airflow", help="command that runs the CLI")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    mwaa = Mwaa(args.environment, Airflow(args.airflow_url, args.airflow_user,
                                          args.airflow_password_file),
                shlex.split(args.airflow_cli), args.port)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(mwaa))
    server.daemon_threads = True
    log.info("local MWAA API for %r on http://127.0.0.1:%d -> %s", args.environment, args.port,
             args.airflow_url)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


if __name__ == "__main__":
    main()
