"""The state of the local MWAA environment: what GetEnvironment reports, the CLI and web login
tokens it has issued, and how a caller's IAM identity becomes an Airflow role.

MWAA maps an identity to one of Airflow's five roles through IAM: ``airflow:InvokeRestApi`` (and
``airflow:CreateWebLoginToken``) on ``arn:aws:airflow:{region}:{account}:role/{env}/{role}``. The
local API asks the emulator's IAM evaluator for each role and acts as the most privileged one
granted (AWS does not document which role wins when several are; the most privileged is what a
wildcard grant is usually written for); none granted is MWAA's ``AccessDeniedException: No Airflow
role granted in IAM.``. Each role acts through an Airflow user of that role (``airflow_user``).
"""

from __future__ import annotations

import base64
import secrets
import shlex
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Callable

from devstack.core.airflow_api import Airflow
from devstack.core.stack_config import MWAA_AIRFLOW_ROLES as AIRFLOW_ROLES
from devstack.core.stack_config import mwaa_airflow_user as airflow_user
from devstack.services.http_api import Caller, Identity
from devstack.services.mwaa.exceptions import (
    AccessDeniedException,
    ResourceNotFoundException,
    RestApiClientException,
    RestApiServerException,
    ValidationException,
    WebForbidden,
)

# Without the emulator's identity endpoints nothing can be evaluated: callers act as User, the role
# the trigger Lambda is granted.
UNEVALUATED_ROLE = "User"
NO_ROLE = "No Airflow role granted in IAM."
CLI_TOKEN_SECONDS = 60  # as MWAA's CLI and web login tokens
WEB_TOKEN_SECONDS = 60
REST_API_METHODS = ("GET", "PUT", "POST", "PATCH", "DELETE")
# The local Airflow keeps its metadata in SQLite, where a burst of writers can time out on the
# database lock (HTTP 500 from Airflow, nothing written); MWAA's Postgres does not. Such an answer
# is asked again, so a DAG sees MWAA's behaviour rather than the stand-in's.
AIRFLOW_5XX_ATTEMPTS = 3
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


@dataclass(frozen=True)
class Environment:
    """What GetEnvironment reports of the one local environment."""

    name: str
    region: str
    account: str
    airflow_version: str
    execution_role_arn: str
    source_bucket_arn: str
    dag_s3_path: str
    web_hostname: str  # host:port of the web server (CLI, login, Airflow's REST API)
    created_at: float

    @property
    def arn(self) -> str:
        return f"arn:aws:airflow:{self.region}:{self.account}:environment/{self.name}"

    def role_arn(self, role: str) -> str:
        return f"arn:aws:airflow:{self.region}:{self.account}:role/{self.name}/{role}"

    def describe(self) -> dict:
        return {
            "Name": self.name,
            "Arn": self.arn,
            "Status": "AVAILABLE",
            "AirflowVersion": self.airflow_version,
            "CreatedAt": self.created_at,
            "ExecutionRoleArn": self.execution_role_arn,
            "SourceBucketArn": self.source_bucket_arn,
            "DagS3Path": self.dag_s3_path,
            "WebserverUrl": self.web_hostname,
            "WebserverAccessMode": "PRIVATE_ONLY",  # loopback unless configured
        }


class Mwaa:
    def __init__(
        self,
        environment: Environment,
        airflow_for: Callable[[str], Airflow],
        airflow_cli: list[str],
        identity: Identity | None,
    ):
        self.environment, self.airflow_cli, self.identity = environment, airflow_cli, identity
        self._airflow_for = airflow_for
        self._clients: dict[str, Airflow] = {}
        self._lock = threading.Lock()
        self._cli_tokens: dict[str, float] = {}
        self._web_tokens: dict[str, tuple[float, str]] = {}  # token -> (issued, role)

    # -- who may do what ---------------------------------------------------------------------

    def check_environment(self, name: str) -> None:
        if urllib.parse.unquote(name) != self.environment.name:
            raise ResourceNotFoundException(f"Environment {name} not found")

    def require(self, caller: Caller | None, action: str, resource: str) -> None:
        """An action on the environment itself (not role-mapped): IAM must allow it (or, when the
        emulator only audits IAM, the denial is recorded and let through)."""
        if self.identity is None or caller is None:
            return
        (decision,), enforcing = self.identity.authorize(
            caller, [(action, resource)], self.environment.region, record="first-allowed"
        )
        if decision != "Allow" and enforcing:
            raise AccessDeniedException(
                f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource}"
            )

    def role_for(self, caller: Caller | None, action: str) -> str:
        """The most privileged Airflow role IAM grants the caller for ``action`` (MWAA's own
        mapping: applied whether or not the emulator enforces IAM)."""
        if self.identity is None or caller is None:
            return UNEVALUATED_ROLE
        checks = [(action, self.environment.role_arn(role)) for role in AIRFLOW_ROLES]
        decisions, _enforcing = self.identity.authorize(
            caller, checks, self.environment.region, record="first-allowed"
        )
        for role, decision in zip(AIRFLOW_ROLES, decisions):
            if decision == "Allow":
                return role
        raise AccessDeniedException(NO_ROLE)

    def airflow(self, role: str) -> Airflow:
        user = airflow_user(role)
        assert user is not None
        with self._lock:
            if user not in self._clients:
                self._clients[user] = self._airflow_for(user)
            return self._clients[user]

    # -- MWAA's operations -------------------------------------------------------------------

    def get_environment(self, name: str, caller: Caller | None) -> dict:
        self.check_environment(name)
        self.require(caller, "airflow:GetEnvironment", self.environment.arn)
        return {"Environment": self.environment.describe()}

    def list_environments(self, caller: Caller | None) -> dict:
        self.require(caller, "airflow:ListEnvironments", "*")
        return {"Environments": [self.environment.name]}

    def create_cli_token(self, name: str, caller: Caller | None) -> dict:
        self.check_environment(name)
        self.require(caller, "airflow:CreateCliToken", self.environment.arn)
        token = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._cli_tokens = {
                t: at for t, at in self._cli_tokens.items() if now - at < CLI_TOKEN_SECONDS
            }
            self._cli_tokens[token] = now
        return {"CliToken": token, "WebServerHostname": self.environment.web_hostname}

    def create_web_login_token(self, name: str, caller: Caller | None) -> dict:
        self.check_environment(name)
        role = self.role_for(caller, "airflow:CreateWebLoginToken")
        token = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._web_tokens = {
                t: (at, r)
                for t, (at, r) in self._web_tokens.items()
                if now - at < WEB_TOKEN_SECONDS
            }
            self._web_tokens[token] = (now, role)
        reply = {"WebToken": token, "WebServerHostname": self.environment.web_hostname}
        if caller is not None:
            reply["IamIdentity"] = caller.arn.split(":", 5)[-1]  # e.g. assumed-role/Admin/name
        return reply | {"AirflowIdentity": airflow_user(role) or role}

    def invoke_rest_api(self, name: str, request: dict, caller: Caller | None) -> dict:
        self.check_environment(name)
        if request.get("Method") not in REST_API_METHODS:
            raise ValidationException(f"Method must be one of {', '.join(REST_API_METHODS)}")
        role = self.role_for(caller, "airflow:InvokeRestApi")
        if airflow_user(role) is None:  # Airflow's Public role may do nothing
            raise RestApiClientException(403, {"detail": "Forbidden", "status": 403})
        path = request["Path"] if request["Path"].startswith("/") else "/" + request["Path"]
        for attempt in range(AIRFLOW_5XX_ATTEMPTS):
            status, response = self.airflow(role).call(
                request["Method"], path, request.get("QueryParameters"), request.get("Body")
            )
            if status < 500:
                break
            time.sleep(1 + attempt)
        if status >= 500:
            raise RestApiServerException(status, response)
        if status >= 400:
            raise RestApiClientException(status, response)
        return {"RestApiStatusCode": status, "RestApiResponse": response}

    # -- the web server ------------------------------------------------------------------------

    def login(self, web_token: str) -> tuple[str, str]:
        """A web login token (once, within 60 s) for (Airflow user, Airflow JWT)."""
        with self._lock:
            issued = self._web_tokens.pop(web_token, None)
        if issued is None or time.time() - issued[0] > WEB_TOKEN_SECONDS:
            raise WebForbidden("invalid or expired web login token")
        user = airflow_user(issued[1])
        if user is None:
            raise WebForbidden("the Public role has no access to the Airflow UI or API")
        return user, self.airflow(issued[1]).fresh_token()

    def run_cli(self, token: str, command: str) -> dict:
        with self._lock:
            issued = self._cli_tokens.get(token)
        if issued is None or time.time() - issued > CLI_TOKEN_SECONDS:
            raise WebForbidden("invalid or expired CLI token")
        words = shlex.split(command)
        if tuple(words[:2]) not in ALLOWED_CLI and tuple(words[:1]) not in ALLOWED_CLI:
            raise ValidationException(f"command not allowed: {' '.join(words[:2])}")
        result = subprocess.run(
            [*self.airflow_cli, *words], capture_output=True, timeout=120, stdin=subprocess.DEVNULL
        )
        return {
            "stdout": base64.b64encode(result.stdout).decode(),
            "stderr": base64.b64encode(result.stderr).decode(),
        }
