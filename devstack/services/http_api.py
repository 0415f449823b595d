"""The HTTP plumbing the local AWS APIs (Glue, Athena, MWAA) share. Standard library only: the Glue image
runs these services, so no web framework.

A service is a function from a ``Request`` to a JSON-able reply; it raises ``ApiError`` for an AWS
error, which goes out as botocore reads it (``__type`` in the body and ``X-Amzn-ErrorType``).
``GET /health`` answers with the service's health document. SIGTERM stops the server cleanly.

Every request passes a ``Guard`` first, because these APIs run scripts and trigger DAGs for whoever
reaches them: the ``Host`` must be one the service is configured for (DNS rebinding), a request from a
web page (``Origin``/``Sec-Fetch-*``) is refused (a cross-site POST needs no preflight), and a POST
must carry a SigV4 signature for this service and region, checked as AWS checks it (botocore computes
the string to sign; a declared ``X-Amz-Content-SHA256`` must be the hash of the body received): made
with the stack's root secret key, or with any credentials the emulator issued (IAM user keys, STS
sessions with their token), which the emulator's identity endpoint checks
(``devstack/services/emulator_identity.py``) without handing out a secret. A body over
``MAX_BODY_BYTES`` is refused before it is read. The caller a signature names travels with the request
(``Request.caller``), so a service can authorize it (``Identity.authorize``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import logging
import secrets
import signal
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Mapping

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from devstack.core import emulator

log = logging.getLogger(__name__)


class ApiError(Exception):
    message_key = "message"  # the member the service's model names (MWAA's AccessDenied: Message)

    def __init__(self, status: int, code: str, message: str, extra: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra or {}


@dataclass(frozen=True)
class Caller:
    """Who signed a request: the principal's ARN and the access key it signed with."""

    arn: str
    account: str
    type: str  # Root, User, AssumedRole
    access_key_id: str


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # the request line's path and query, as sent (what was signed)
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    caller: Caller | None = None  # set by the Guard for a signed request

    def json(self) -> dict:
        try:
            return json.loads(self.body or b"{}")
        except ValueError as exc:
            raise ApiError(400, "SerializationException", f"body is not JSON: {exc}") from exc

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass(frozen=True)
class Raw:
    """A reply that is not the service's JSON document (a web page, a login with its cookie, an
    answer relayed from another server)."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


Service = Callable[[Request], "dict | Raw"]
HEALTH_PATHS = ("", "/health")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_CLOCK_SKEW_SECONDS = 15 * 60  # as AWS: an older signature has expired
MAX_BODY_BYTES = 5 * 1024 * 1024  # a request body over this is refused before it is read
SIGV4 = "AWS4-HMAC-SHA256"
IDENTITY_TIMEOUT_SECONDS = 10


class Identity:
    """The emulator's identity endpoints: who holds a key (and did they sign this), and what their
    IAM policies allow. A refusal comes back as the ApiError AWS answers."""

    def __init__(self, emulator_url: str):
        self.base = emulator_url.rstrip("/") + "/_devstack/identity/"

    def _post(self, route: str, document: dict) -> dict:
        request = urllib.request.Request(
            self.base + route,
            data=json.dumps(document).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=IDENTITY_TIMEOUT_SECONDS) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as error:
            refusal = json.loads(error.read() or b"{}")
            code = refusal.get("__type", "InvalidSignatureException")
            status = 400 if code == "ValidationException" else 403
            raise ApiError(status, code, refusal.get("message", "")) from None
        except (OSError, ValueError) as error:  # the emulator is down: refuse, never allow
            raise ApiError(
                503, "ServiceUnavailableException", f"identity check unavailable: {error}"
            ) from None

    def verify(
        self, access_key_id: str, token: str, scope: list[str], to_sign: str, signature: str
    ):
        _key, day, region, service, _terminator = scope
        found = self._post(
            "verify",
            {
                "AccessKeyId": access_key_id,
                "SessionToken": token or None,
                "Date": day,
                "Region": region,
                "Service": service,
                "StringToSign": to_sign,
                "Signature": signature,
            },
        )
        return Caller(found["Arn"], found["Account"], found["Type"], access_key_id)

    def authorize(
        self, caller: Caller, checks: list[tuple[str, str]], region: str, record: str = ""
    ) -> tuple[list[str], bool]:
        """The decision (Allow, Deny, ImplicitDeny) of the caller's policies per (action, resource),
        and whether the emulator enforces IAM (else a denial is only recorded); ``record``
        "first-allowed" has the emulator record the check that decided."""
        found = self._post(
            "authorize",
            {
                "AccessKeyId": caller.access_key_id,
                "Region": region,
                "Checks": [{"Action": a, "Resource": r} for a, r in checks],
                "Record": record,
            },
        )
        return found["Results"], found["Enforcing"]

    def authorize_request(self, caller: Caller, request: Request, service: str, region: str):
        """This API's request authorized (and recorded) as the emulator authorizes its own; raises
        AccessDeniedException if refused and the emulator enforces IAM."""
        found = self._post(
            "authorize-request",
            {
                "AccessKeyId": caller.access_key_id,
                "Service": service,
                "Method": request.method,
                "Path": request.path,
                "Headers": {
                    h: request.headers[h]
                    for h in ("x-amz-target", "content-type")
                    if h in request.headers
                },
                "Body": base64.b64encode(request.body).decode(),
                "Region": region,
            },
        )
        if found["Decision"] != "Allow" and found["Enforcing"]:
            raise ApiError(
                400,
                "AccessDeniedException",
                f"User: {caller.arn} is not authorized to perform: {found['Action']} on "
                f"resource: {found['Resource']} because no identity-based policy allows the "
                f"{found['Action']} action",
            )


@dataclass(frozen=True)
class Guard:
    """Who may call a local API (see the module's docstring)."""

    signing_name: str  # "glue", "airflow" (MWAA)
    region: str
    # Any access key id, as the emulators accept; the secret must be one of these. Empty: any secret
    # (only the signature's form, scope and age are checked; see --accept-any-secret).
    secret_keys: tuple[str, ...]
    hosts: tuple[str, ...] = LOOPBACK_HOSTS
    # path prefixes authenticated another way (MWAA's CLI and web tokens, Airflow's own JWT)
    unsigned_paths: tuple[str, ...] = ()
    # Where keys other than the root's are checked (STS sessions, IAM users); None: root key only
    identity: Identity | None = None
    account: str = emulator.LOCAL_ACCOUNT  # the account the root key is the root of
    # Each call of a principal other than the root authorized (and recorded) through ``identity``
    # (Glue, Athena); MWAA maps callers to Airflow roles itself.
    authorize_calls: bool = False

    def check(self, request: Request) -> Request:
        """The request with its caller, or raises the ApiError AWS would answer."""
        host = urllib.parse.urlsplit("//" + request.header("host")).hostname or ""
        if host not in self.hosts:
            raise ApiError(403, "AccessDeniedException", f"unknown host {host!r}")
        browser = [h for h in request.headers if h == "origin" or h.startswith("sec-fetch-")]
        if browser:
            raise ApiError(
                403, "AccessDeniedException", f"requests from web pages are refused ({browser[0]})"
            )
        health = request.method == "GET" and request.path.rstrip("/") in HEALTH_PATHS
        if health or request.path.startswith(self.unsigned_paths):
            return request
        caller = self.check_signature(request)
        if self.authorize_calls and self.identity and caller and caller.type != "Root":
            self.identity.authorize_request(caller, request, self.signing_name, self.region)
        return replace(request, caller=caller)

    def check_signature(self, request: Request) -> Caller | None:
        authorization = request.header("authorization")
        if not authorization:
            raise ApiError(
                403, "MissingAuthenticationTokenException", "Missing Authentication Token"
            )
        algorithm, _, rest = authorization.partition(" ")
        fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
        scope = fields.get("Credential", "").split("/")
        signed = [h for h in fields.get("SignedHeaders", "").split(";") if h]
        if (
            algorithm != SIGV4
            or len(scope) != 5
            or "host" not in signed
            or "Signature" not in fields
        ):
            raise ApiError(400, "IncompleteSignatureException", f"not a {SIGV4} authorization")
        key_id, day, region, service, _terminator = scope
        if (region, service) != (self.region, self.signing_name):
            raise ApiError(
                403,
                "InvalidSignatureException",
                f"Credential should be scoped to {self.region}/{self.signing_name}, "
                f"not {region}/{service}",
            )
        stamp = request.header("x-amz-date")
        try:
            signed_at = datetime.strptime(stamp, SIGV4_TIMESTAMP).replace(tzinfo=timezone.utc)
        except ValueError:
            raise ApiError(400, "IncompleteSignatureException", "no valid X-Amz-Date") from None
        skew = abs((datetime.now(timezone.utc) - signed_at).total_seconds())
        if skew > MAX_CLOCK_SKEW_SECONDS or not stamp.startswith(day):
            raise ApiError(403, "InvalidSignatureException", f"Signature expired: {stamp}")
        missing = [h for h in signed if h not in request.headers]
        if missing:
            raise ApiError(400, "IncompleteSignatureException", f"signed headers absent: {missing}")
        declared = request.header("x-amz-content-sha256")
        if declared and not hmac.compare_digest(declared, hashlib.sha256(request.body).hexdigest()):
            # botocore's signer would take the header's word for the body: hash what came
            raise ApiError(
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided "
                "(X-Amz-Content-SHA256 is not the body's hash)",
            )
        if not self.secret_keys and self.identity is None:
            return None
        copy = self.as_received(request, signed, stamp)
        canonical = self.signer("unused")  # the string to sign does not depend on the secret
        to_sign = canonical.string_to_sign(copy, canonical.canonical_request(copy))
        token = request.header("x-amz-security-token")
        for secret in self.secret_keys:
            if not token and hmac.compare_digest(
                self.signer(secret).signature(to_sign, copy), fields["Signature"]
            ):
                return Caller(f"arn:aws:iam::{self.account}:root", self.account, "Root", key_id)
        if self.identity is not None:
            return self.identity.verify(key_id, token, scope, to_sign, fields["Signature"])
        raise ApiError(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided",
        )

    def signer(self, secret: str) -> SigV4Auth:
        """botocore's SigV4 signer for this service and region, holding ``secret``."""
        return SigV4Auth(Credentials("any", secret), self.signing_name, self.region)

    def as_received(self, request: Request, signed: list[str], stamp: str) -> AWSRequest:
        """The request as botocore signs it: the signed headers, the body received, its time."""
        copy = AWSRequest(
            method=request.method,
            url=f"http://{request.header('host')}{request.target}",
            data=request.body,
            headers={h: request.headers[h] for h in signed},
        )
        copy.context["timestamp"] = stamp
        return copy


def handler_class(
    service: Service,
    health: Callable[[], dict],
    content_type: str,
    invalid_input_code: str,
    guard: Guard,
) -> type[BaseHTTPRequestHandler]:
    """A request handler: ``health`` for GET /health, ``service`` for any other request, each
    request checked by ``guard`` first. A KeyError or ValueError from the service is the caller's fault: 400
    ``invalid_input_code``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            log.debug(fmt, *args)

        def _reply(self, status: int, body: dict, error_code: str | None = None) -> None:
            data = json.dumps(body, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", secrets.token_hex(16))
            if error_code:
                self.send_header("X-Amzn-ErrorType", error_code)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, error: ApiError) -> None:
            self._reply(
                error.status,
                {"__type": error.code, error.message_key: error.message, **error.extra},
                error.code,
            )

        def _request(self, method: str) -> Request:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self.close_connection = True  # the unread body must not be taken for a request
                raise ApiError(
                    413,
                    "RequestEntityTooLargeException",
                    f"a request body of {length} bytes is over the limit of {MAX_BODY_BYTES}",
                )
            url = urllib.parse.urlsplit(self.path)
            return Request(
                method,
                self.path,
                url.path,
                urllib.parse.parse_qs(url.query),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length) if length else b"",
            )

        def _raw(self, raw: Raw) -> None:
            self.send_response(raw.status)
            for name, value in raw.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(raw.body)))
            self.end_headers()
            self.wfile.write(raw.body)

        def _handle(self, method: str) -> None:
            try:
                request = guard.check(self._request(method))
            except ApiError as error:
                self._error(error)
                return
            if method == "GET" and request.path.rstrip("/") in HEALTH_PATHS:
                self._reply(200, health())
                return
            try:
                reply = service(request)
                self._raw(reply) if isinstance(reply, Raw) else self._reply(200, reply)
            except ApiError as error:
                self._error(error)
            except (KeyError, ValueError) as exc:
                self._error(ApiError(400, invalid_input_code, repr(exc)))
            except Exception as exc:  # a bug in one request must not kill the service
                log.exception("%s %s failed", request.method, request.path)
                self._error(ApiError(500, "InternalServiceException", str(exc)))

        def do_GET(self):
            self._handle("GET")

        def do_POST(self):
            self._handle("POST")

        def do_PUT(self):
            self._handle("PUT")

        def do_PATCH(self):
            self._handle("PATCH")

        def do_DELETE(self):
            self._handle("DELETE")

    return Handler


def add_guard_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        help="a host name callers may use besides loopback (e.g. the Compose service name)",
    )
    parser.add_argument(
        "--accept-any-secret",
        action="store_true",
        help="check a signature's form, scope and age but not its key: for callers that sign with "
        "session keys only an emulator without identity endpoints knows (LocalStack's Lambdas)",
    )
    parser.add_argument(
        "--identity-url",
        help="the emulator whose identity endpoints check keys other than the root's (STS "
        "sessions, IAM users) and authorize callers; without it only the root key is accepted",
    )


def guard_from(
    args: argparse.Namespace,
    signing_name: str,
    region: str,
    environ: Mapping[str, str],
    unsigned_paths: tuple[str, ...] = (),
    authorize_calls: bool = False,
) -> Guard:
    """The guard of a service started with ``add_guard_arguments``: the stack's secret key is the one
    in the service's own environment (AWS_SECRET_ACCESS_KEY), as its SDK clients use."""
    return Guard(
        signing_name,
        region,
        () if args.accept_any_secret else (environ["AWS_SECRET_ACCESS_KEY"],),
        LOOPBACK_HOSTS + tuple(args.allowed_host),
        unsigned_paths,
        None if args.accept_any_secret or not args.identity_url else Identity(args.identity_url),
        authorize_calls=authorize_calls,
    )


def serve(host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
    """Serves until SIGTERM (then returns after in-flight requests)."""
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
