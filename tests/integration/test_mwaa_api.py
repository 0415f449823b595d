"""The local MWAA API against the emulator's IAM and STS, driven by boto3, with every reply checked
against botocore's model of MWAA: identities map to Airflow roles as MWAA maps them, the web login
works over HTTPS as the provider's hook uses it, and the environment describes itself."""

from __future__ import annotations

import json
import ssl
import threading
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
import requests
from botocore.config import Config

from devstack.core import emulator, local_tls
from devstack.core.airflow_api import Airflow
from devstack.runtime.stack import free_port
from devstack.services import http_api
from devstack.services.mwaa import responses, server
from devstack.services.mwaa.models import NO_ROLE, Environment, Mwaa
from music_streaming import config
from tests.integration.service_model import Checked

pytestmark = pytest.mark.integration

REGION = config.DEFAULT_REGION
ENV = "env"
ROLE_ARN = f"arn:aws:airflow:{REGION}:{emulator.LOCAL_ACCOUNT}:role/{ENV}/"
ENV_ARN = f"arn:aws:airflow:{REGION}:{emulator.LOCAL_ACCOUNT}:environment/{ENV}"


class FakeAirflow(BaseHTTPRequestHandler):
    """Airflow's token endpoint (a JWT naming the user) and an API that echoes who called."""

    def log_message(self, *args):
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _api(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        if self.path == "/auth/token":
            self._send(201, {"access_token": f"jwt-{body['username']}"})
            return
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if not token.startswith("jwt-"):
            self._send(401, {"detail": "no token"})
        elif body.get("dag_run_id") == "exists":
            self._send(409, {"detail": "DAG Run already exists"})
        else:
            self._send(200, {"user": token[4:], "path": self.path, "method": self.command})

    do_GET = do_POST = do_PATCH = _api


@pytest.fixture(scope="module")
def endpoint(enforcing_endpoint):
    return enforcing_endpoint.endpoint


@pytest.fixture(scope="module")
def mwaa_api(endpoint, tmp_path_factory):
    """The local MWAA API (API on HTTP, web server on HTTPS) over a fake Airflow, checking callers
    through an emulator that enforces IAM; yields (api url, checked replies, tls files)."""
    home = tmp_path_factory.mktemp("mwaa")
    airflow = ThreadingHTTPServer(("127.0.0.1", free_port()), FakeAirflow)
    threading.Thread(target=airflow.serve_forever, daemon=True).start()
    airflow_url = f"http://127.0.0.1:{airflow.server_address[1]}"
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({f"mwaa_{r}": "p" for r in ("admin", "op", "user", "viewer")}))
    tls = local_tls.ensure(home / "tls")
    identity = http_api.Identity(endpoint)
    guard = http_api.Guard("airflow", REGION, (emulator.LOCAL_SECRET_KEY,), identity=identity)
    web_port = free_port()
    mwaa = Mwaa(
        Environment(
            ENV,
            REGION,
            emulator.LOCAL_ACCOUNT,
            "3.0.6",
            "arn:aws:iam::000000000000:role/x",
            "arn:aws:s3:::assets",
            "dags",
            f"127.0.0.1:{web_port}",
            1.7e9,
        ),
        lambda user: Airflow(airflow_url, user, passwords),
        ["true"],
        identity,
    )
    checked = Checked("mwaa", responses.api(mwaa, None), operation_of=operation_name)
    api = ThreadingHTTPServer(
        ("127.0.0.1", free_port()),
        http_api.handler_class(checked, dict, "application/json", "ValidationException", guard),
    )
    web = ThreadingHTTPServer(
        ("127.0.0.1", web_port),
        server.handler_class(
            mwaa,
            http_api.Guard("airflow", REGION, (), unsigned_paths=("/",)),
            responses.web(mwaa, airflow_url),
        ),
    )
    web.socket = server.tls_context(tls.cert, tls.key).wrap_socket(web.socket, server_side=True)
    for s in (api, web):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{api.server_address[1]}", checked, tls
    for s in (api, web, airflow):
        s.shutdown()
    assert checked.found == []


def operation_name(request):
    found = responses.operation(request)
    return found[0] if found else None


def mwaa_client(url, **credentials):
    return boto3.client(
        "mwaa",
        endpoint_url=url,
        region_name=REGION,
        config=Config(inject_host_prefix=False, retries={"max_attempts": 1}),
        **(
            credentials
            or {
                "aws_access_key_id": emulator.LOCAL_ACCESS_KEY,
                "aws_secret_access_key": emulator.LOCAL_SECRET_KEY,
            }
        ),
    )


def session_of(endpoint, statements: list[dict]) -> dict:
    """Session credentials (from the emulator's STS) of a new role with these statements."""
    kw = {
        "endpoint_url": endpoint,
        "region_name": REGION,
        "aws_access_key_id": emulator.LOCAL_ACCESS_KEY,
        "aws_secret_access_key": emulator.LOCAL_SECRET_KEY,
    }
    iam, sts = boto3.client("iam", **kw), boto3.client("sts", **kw)
    name = f"r-{uuid.uuid4().hex[:8]}"
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]
    }
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    if statements:
        document = {"Version": "2012-10-17", "Statement": statements}
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(document))
    arn = f"arn:aws:iam::{emulator.LOCAL_ACCOUNT}:role/{name}"
    return emulator.assume_role(sts, arn, "test")


def allow(action: str, resource: str) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def test_invoke_rest_api_acts_as_the_most_privileged_role_iam_grants(mwaa_api, endpoint):
    url, _, _ = mwaa_api
    as_root = mwaa_client(url).invoke_rest_api(Name=ENV, Path="/dags", Method="GET")
    assert as_root["RestApiResponse"]["user"] == "mwaa_admin"  # the root may do anything

    user = session_of(endpoint, [allow("airflow:InvokeRestApi", ROLE_ARN + "User")])
    reply = mwaa_client(url, **user).invoke_rest_api(
        Name=ENV, Path="/dags/d/dagRuns", Method="POST", Body={"dag_run_id": "r1"}
    )
    assert reply["RestApiStatusCode"] == 200
    assert reply["RestApiResponse"] == {
        "user": "mwaa_user",
        "path": "/api/v2/dags/d/dagRuns",
        "method": "POST",
    }
    wildcard = session_of(endpoint, [allow("airflow:InvokeRestApi", ROLE_ARN + "*")])
    reply = mwaa_client(url, **wildcard).invoke_rest_api(Name=ENV, Path="/dags", Method="GET")
    assert reply["RestApiResponse"]["user"] == "mwaa_admin"
    # an explicit deny of Admin leaves the next role granted
    denied_admin = session_of(
        endpoint,
        [
            allow("airflow:InvokeRestApi", ROLE_ARN + "*"),
            {"Effect": "Deny", "Action": "airflow:*", "Resource": ROLE_ARN + "Admin"},
        ],
    )
    reply = mwaa_client(url, **denied_admin).invoke_rest_api(Name=ENV, Path="/dags", Method="GET")
    assert reply["RestApiResponse"]["user"] == "mwaa_op"


def test_no_airflow_role_is_mwaas_access_denied_and_public_may_do_nothing(mwaa_api, endpoint):
    url, _, _ = mwaa_api
    # CreateWebLoginToken's grant is not InvokeRestApi's
    none = session_of(endpoint, [allow("airflow:CreateWebLoginToken", ROLE_ARN + "Viewer")])
    client = mwaa_client(url, **none)
    with pytest.raises(client.exceptions.AccessDeniedException) as refused:
        client.invoke_rest_api(Name=ENV, Path="/dags", Method="GET")
    error = refused.value.response
    assert error["Error"] == {"Code": "AccessDeniedException", "Message": NO_ROLE}
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403

    public = mwaa_client(
        url, **session_of(endpoint, [allow("airflow:InvokeRestApi", ROLE_ARN + "Public")])
    )
    with pytest.raises(public.exceptions.RestApiClientException) as forbidden:
        public.invoke_rest_api(Name=ENV, Path="/dags", Method="GET")
    assert forbidden.value.response["RestApiStatusCode"] == 403


def test_conflicts_and_unknown_environments_keep_mwaas_shapes(mwaa_api):
    url, _, _ = mwaa_api
    client = mwaa_client(url)
    with pytest.raises(client.exceptions.RestApiClientException) as conflict:
        client.invoke_rest_api(
            Name=ENV, Path="/dags/d/dagRuns", Method="POST", Body={"dag_run_id": "exists"}
        )
    # the trigger Lambda relies on this to treat a retried event as done
    assert conflict.value.response["RestApiStatusCode"] == 409
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke_rest_api(Name="other", Path="/dags", Method="GET")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_environment(Name="other")


def test_a_wrong_session_token_or_secret_is_refused(mwaa_api, endpoint):
    url, _, _ = mwaa_api
    user = session_of(endpoint, [allow("airflow:InvokeRestApi", ROLE_ARN + "User")])
    for wrong in ({"aws_session_token": "forged"}, {"aws_secret_access_key": "x" * 40}):
        client = mwaa_client(url, **{**user, **wrong})
        with pytest.raises(client.exceptions.ClientError) as refused:
            client.invoke_rest_api(Name=ENV, Path="/dags", Method="GET")
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert refused.value.response["Error"]["Code"] in (
            "InvalidToken",
            "InvalidSignatureException",
        )


def test_web_login_over_https_then_airflows_api_as_the_granted_role(mwaa_api, endpoint):
    """The provider hook's fallback: CreateWebLoginToken, POST the token to the Airflow 3 login
    path, then Airflow's REST API with the ``_token`` cookie as a bearer token."""
    url, _, tls = mwaa_api
    viewer = session_of(endpoint, [allow("airflow:CreateWebLoginToken", ROLE_ARN + "Viewer")])
    token = mwaa_client(url, **viewer).create_web_login_token(Name=ENV)
    assert (
        token["IamIdentity"].startswith("assumed-role/")
        and token["AirflowIdentity"] == "mwaa_viewer"
    )
    session = requests.Session()
    login = session.post(
        f"https://{token['WebServerHostname']}/pluginsv2/aws_mwaa/login",
        data={"token": token["WebToken"]},
        verify=str(tls.ca),
        timeout=10,
    )
    login.raise_for_status()
    reply = session.get(
        f"https://{token['WebServerHostname']}/api/v2/dags",
        headers={"Authorization": f"Bearer {login.cookies['_token']}"},
        verify=str(tls.ca),
        timeout=10,
    )
    assert reply.json() == {"user": "mwaa_viewer", "path": "/api/v2/dags", "method": "GET"}
    # a web token is good once
    again = session.post(
        f"https://{token['WebServerHostname']}/pluginsv2/aws_mwaa/login",
        data={"token": token["WebToken"]},
        verify=str(tls.ca),
        timeout=10,
    )
    assert again.status_code == 403
    # and only over the stack's own CA: an unverified client is not trusted by default
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(
            f"https://{token['WebServerHostname']}/health",
            context=ssl.create_default_context(),
            timeout=10,
        )


def test_cli_token_and_environment_calls_need_their_iam_actions(mwaa_api, endpoint):
    url, checked, _ = mwaa_api
    nothing = mwaa_client(url, **session_of(endpoint, []))
    for call in (
        lambda: nothing.create_cli_token(Name=ENV),
        lambda: nothing.get_environment(Name=ENV),
        nothing.list_environments,
    ):
        with pytest.raises(nothing.exceptions.ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    reader = mwaa_client(
        url,
        **session_of(
            endpoint,
            [
                allow("airflow:GetEnvironment", ENV_ARN),
                allow("airflow:ListEnvironments", "*"),
                allow("airflow:CreateCliToken", ENV_ARN),
            ],
        ),
    )
    assert reader.list_environments()["Environments"] == [ENV]
    environment = reader.get_environment(Name=ENV)["Environment"]
    assert environment["Arn"] == ENV_ARN and environment["Status"] == "AVAILABLE"
    assert environment["WebserverUrl"] == reader.create_cli_token(Name=ENV)["WebServerHostname"]
    assert {"GetEnvironment", "ListEnvironments", "CreateCliToken", "InvokeRestApi"} <= checked.seen
