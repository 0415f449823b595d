"""MWAA's wire format: its REST routes (botocore's model: GetEnvironment ``GET /environments/{Name}``,
ListEnvironments ``GET /environments``, CreateCliToken, CreateWebLoginToken, InvokeRestApi ``POST
/{clitoken,webtoken,restapi}/{Name}``) and the web server's paths (``/aws_mwaa/cli`` with a CLI token,
``/pluginsv2/aws_mwaa/login`` with a web login token as Airflow 3 environments take it, and Airflow's
own REST API under ``/api/v2/`` with the JWT the login set as the ``_token`` cookie)."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request

from devstack.services import http_api
from devstack.services.mwaa.exceptions import ResourceNotFoundException, WebForbidden
from devstack.services.mwaa.models import WEB_TOKEN_SECONDS, Mwaa

CLI_PATH = "/aws_mwaa/cli"
LOGIN_PATH = "/pluginsv2/aws_mwaa/login"
AIRFLOW_API_PREFIX = "/api/v2/"
# Authenticated by their own tokens, not by SigV4.
WEB_PATHS = (CLI_PATH, LOGIN_PATH, AIRFLOW_API_PREFIX)
SESSION_SECONDS = 12 * 3600  # MWAA's web session lasts 12 hours
PROXY_TIMEOUT_SECONDS = 60

ROUTES = [
    ("GET", re.compile(r"^/environments/?$"), "ListEnvironments"),
    ("GET", re.compile(r"^/environments/([^/]+)$"), "GetEnvironment"),
    ("POST", re.compile(r"^/clitoken/([^/]+)$"), "CreateCliToken"),
    ("POST", re.compile(r"^/webtoken/([^/]+)$"), "CreateWebLoginToken"),
    ("POST", re.compile(r"^/restapi/([^/]+)$"), "InvokeRestApi"),
]


def operation(request: http_api.Request) -> tuple[str, str] | None:
    """(MWAA operation, environment name) a request is for; None for anything else."""
    for method, pattern, name in ROUTES:
        match = pattern.match(request.path)
        if match and request.method == method:
            return name, (match.groups() or ("",))[0]
    return None


def api(mwaa: Mwaa, web_server: http_api.Service | None) -> http_api.Service:
    """MWAA's REST API (every call SigV4-signed; the Guard names the caller), and the web server's
    paths when it has no listener of its own (``web_server``)."""

    def handle(request: http_api.Request) -> dict | http_api.Raw:
        if web_server is not None and request.path.startswith(WEB_PATHS):
            return web_server(request)
        found = operation(request)
        if found is None:
            raise ResourceNotFoundException(f"no route {request.method} {request.path}")
        name, environment = found
        caller = request.caller
        if name == "ListEnvironments":
            return mwaa.list_environments(caller)
        if name == "GetEnvironment":
            return mwaa.get_environment(environment, caller)
        if name == "CreateCliToken":
            return mwaa.create_cli_token(environment, caller)
        if name == "CreateWebLoginToken":
            return mwaa.create_web_login_token(environment, caller)
        return mwaa.invoke_rest_api(environment, request.json(), caller)

    return handle


def web(mwaa: Mwaa, airflow_url: str) -> http_api.Service:
    """The environment's web server: the CLI endpoint, the login, and Airflow's REST API."""

    def handle(request: http_api.Request) -> dict | http_api.Raw:
        if request.path == CLI_PATH and request.method == "POST":
            token = request.header("Authorization").removeprefix("Bearer ").strip()
            return mwaa.run_cli(token, request.body.decode())
        if request.path == LOGIN_PATH and request.method == "POST":
            form = urllib.parse.parse_qs(request.body.decode())
            user, jwt = mwaa.login((form.get("token") or [""])[0])
            cookie = f"_token={jwt}; Path=/; Max-Age={SESSION_SECONDS}; Secure; SameSite=Lax"
            body = f'{{"user": "{user}"}}'.encode()
            return http_api.Raw(
                200, body, (("Content-Type", "application/json"), ("Set-Cookie", cookie))
            )
        if request.path.startswith(AIRFLOW_API_PREFIX):
            if not request.header("Authorization").startswith("Bearer "):
                raise WebForbidden(
                    f"log in first: POST {LOGIN_PATH} with a web login token "
                    f"(valid {WEB_TOKEN_SECONDS} s)"
                )
            return relay(airflow_url, request)
        raise ResourceNotFoundException(f"no route {request.method} {request.path}")

    return handle


def relay(airflow_url: str, request: http_api.Request) -> http_api.Raw:
    """Airflow's answer to the request, with the caller's own token (Airflow authorizes it)."""
    forwarded = urllib.request.Request(
        airflow_url.rstrip("/") + request.target,
        data=request.body or None,
        method=request.method,
        headers={
            "Authorization": request.header("Authorization"),
            "Content-Type": request.header("Content-Type", "application/json"),
        },
    )
    try:
        with urllib.request.urlopen(forwarded, timeout=PROXY_TIMEOUT_SECONDS) as reply:
            status, body, kind = reply.status, reply.read(), reply.headers.get("Content-Type")
    except urllib.error.HTTPError as error:
        status, body, kind = error.code, error.read(), error.headers.get("Content-Type")
    return http_api.Raw(status, body, (("Content-Type", kind or "application/json"),))
