"""The local APIs' guard: who may call them (Host, web pages, SigV4 with the stack's secret)."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from http.server import ThreadingHTTPServer

import boto3
import pytest
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from devstack.services import http_api

REGION, SECRET = "us-east-1", "stack-secret"


@pytest.fixture(scope="module")
def api():
    """A Glue-shaped API whose only operation echoes the target it was called with."""

    def service(request: http_api.Request) -> dict:
        return {"Name": request.header("x-amz-target"), "JobNames": []}

    guard = http_api.Guard("glue", REGION, (SECRET,), hosts=(*http_api.LOOPBACK_HOSTS, "glue"))
    handler = http_api.handler_class(
        service, lambda: {"status": "healthy"}, "application/x-amz-json-1.1", "X", guard
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def glue_client(url: str, secret: str = SECRET, region: str = REGION):
    return boto3.client(
        "glue",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="any-key-id",
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def signed(url: str, body: bytes, secret=SECRET, service="glue", at=None, **headers):
    """A raw request signed as botocore signs, with extra headers added after signing."""
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"X-Amz-Target": "AWSGlue.ListJobs", "Content-Type": "application/x-amz-json-1.1"},
    )
    signer = SigV4Auth(Credentials("k", secret), service, REGION)
    if at is None:
        signer.add_auth(request)
    else:  # sign as if at another time
        request.headers["X-Amz-Date"] = at.strftime(SIGV4_TIMESTAMP)
        request.context["timestamp"] = request.headers["X-Amz-Date"]
        canonical = signer.canonical_request(request)
        signature = signer.signature(signer.string_to_sign(request, canonical), request)
        scope = signer.scope(request)
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={scope}, "
            f"SignedHeaders={signer.signed_headers(signer.headers_to_sign(request))}, "
            f"Signature={signature}"
        )
    prepared = dict(request.headers.items())
    prepared.update(headers)
    return urllib.request.Request(url, data=body, headers=prepared, method="POST")


def refusal(request) -> tuple[int, str, str]:
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=5)
    body = json.loads(error.value.read())
    return error.value.code, body["__type"], body["message"]


def test_a_boto3_client_with_the_stacks_secret_gets_in_with_any_key_id(api):
    assert glue_client(api).list_jobs()["JobNames"] == []


def test_another_secret_is_refused(api):
    with pytest.raises(Exception) as error:
        glue_client(api, secret="guessed").list_jobs()
    assert error.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_signature_for_another_region_or_service_is_refused(api):
    with pytest.raises(Exception) as error:
        glue_client(api, region="eu-west-1").list_jobs()
    assert "scoped to us-east-1/glue" in str(error.value)
    status, code, message = refusal(signed(api, b"{}", service="airflow"))
    assert (status, code) == (
        403,
        "InvalidSignatureException",
    ) and "not us-east-1/airflow" in message


def test_an_unsigned_post_is_refused(api):
    request = urllib.request.Request(
        api, data=b"{}", headers={"X-Amz-Target": "AWSGlue.StartJobRun"}, method="POST"
    )
    assert refusal(request)[:2] == (403, "MissingAuthenticationTokenException")


def test_a_signature_older_than_15_minutes_is_refused(api):
    old = datetime.now(timezone.utc) - timedelta(minutes=16)
    status, code, message = refusal(signed(api, b"{}", at=old))
    assert (status, code) == (403, "InvalidSignatureException") and "expired" in message
    recent = datetime.now(timezone.utc) - timedelta(minutes=5)
    with urllib.request.urlopen(signed(api, b"{}", at=recent), timeout=5) as reply:
        assert reply.status == 200


def test_a_body_changed_after_signing_is_refused(api):
    request = signed(api, b"{}")
    request.data = b'{"JobName": "other"}'
    request.headers["Content-length"] = str(len(request.data))
    assert refusal(request)[:2] == (403, "InvalidSignatureException")


def test_a_body_swapped_under_a_signed_payload_hash_is_refused(api):
    """botocore's signer takes X-Amz-Content-SHA256's word for the body; the guard hashes the
    body it received (a signed GetJob whose body was swapped for a CreateJob's was accepted)."""
    original = b'{"JobName": "mine"}'
    digest = hashlib.sha256(original).hexdigest()
    honest = signed_with_payload_hash(api, original, digest)
    with urllib.request.urlopen(honest, timeout=5) as reply:
        assert reply.status == 200
    swapped = signed_with_payload_hash(api, original, digest)
    swapped.data = b'{"Name": "theirs", "Role": "admin", "Command": {}}'
    swapped.headers["Content-length"] = str(len(swapped.data))
    status, code, message = refusal(swapped)
    assert (status, code) == (403, "InvalidSignatureException") and "body's hash" in message


def signed_with_payload_hash(url: str, body: bytes, digest: str):
    """Signed as a client that sends the payload's hash as a signed header (S3's style)."""
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "X-Amz-Target": "AWSGlue.GetJob",
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Content-SHA256": digest,
        },
    )
    SigV4Auth(Credentials("k", SECRET), "glue", REGION).add_auth(request)
    return urllib.request.Request(
        url, data=body, headers=dict(request.headers.items()), method="POST"
    )


def test_a_body_over_the_limit_is_refused_before_it_is_read(api):
    host, port = api.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
            + str(http_api.MAX_BODY_BYTES + 1).encode()
            + b"\r\n\r\n"
        )  # no body follows: the answer comes without it
        reply = conn.recv(65536).decode()
    assert reply.startswith("HTTP/1.1 413")
    assert "RequestEntityTooLargeException" in reply


def test_a_malformed_authorization_is_refused(api):
    request = urllib.request.Request(
        api, data=b"{}", headers={"Authorization": "Bearer abc"}, method="POST"
    )
    assert refusal(request)[:2] == (400, "IncompleteSignatureException")


def test_a_request_from_a_web_page_is_refused_even_when_signed(api):
    # A cross-site text/plain POST needs no preflight; the browser adds Origin / Sec-Fetch-*.
    for header in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        status, code, message = refusal(signed(api, b"{}", **header))
        assert (status, code) == (403, "AccessDeniedException") and "web pages" in message


def test_an_unknown_host_is_refused_even_for_health(api):
    # DNS rebinding: a page at evil.example whose name now points at 127.0.0.1.
    health = urllib.request.Request(f"{api}/health", headers={"Host": "evil.example:4580"})
    assert refusal(health)[:2] == (403, "AccessDeniedException")
    assert refusal(signed(api, b"{}", Host="evil.example"))[2] == "unknown host 'evil.example'"
    with urllib.request.urlopen(f"{api}/health", timeout=5) as reply:  # loopback is served
        assert json.loads(reply.read()) == {"status": "healthy"}


def test_a_configured_host_name_is_served(api):
    port = api.rsplit(":", 1)[1]
    health = urllib.request.Request(f"{api}/health", headers={"Host": f"glue:{port}"})
    with urllib.request.urlopen(health, timeout=5) as reply:
        assert reply.status == 200


def test_accept_any_secret_still_checks_form_scope_and_age():
    guard = http_api.Guard("airflow", REGION, ())
    request = signed(
        "http://127.0.0.1:1/restapi/env", b"{}", secret="session-key", service="airflow"
    )
    as_received = http_api.Request(
        "POST",
        "/restapi/env",
        "/restapi/env",
        {},
        {k.lower(): v for k, v in request.headers.items()} | {"host": "127.0.0.1:1"},
        b"{}",
    )
    guard.check(as_received)  # any key
    with pytest.raises(http_api.ApiError, match="scoped to"):
        http_api.Guard("glue", REGION, ()).check(as_received)
    unsigned = http_api.Request("POST", "/x", "/x", {}, {"host": "127.0.0.1"}, b"")
    with pytest.raises(http_api.ApiError, match="Missing Authentication Token"):
        guard.check(unsigned)
