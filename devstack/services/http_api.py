"""The HTTP plumbing the local AWS APIs (Glue, Athena, MWAA) share. Standard library only: the Glue image
runs these services, so no web framework.

A service is a function from a ``Request`` to a JSON-able reply; it raises ``ApiError`` for an AWS
error, which goes out as botocore reads it (``__type`` in the body and ``X-Amzn-ErrorType``).
``GET /health`` answers with the service's health document. SIGTERM stops the server cleanly.

Every request passes a ``Guard`` first, because these APIs run scripts and trigger DAGs for whoever
reaches them: the ``Host`` must be one the service is configured for (DNS rebinding), a request from a
web page (``Origin``/``Sec-Fetch-*``) is refused (a cross-site POST needs no preflight), and a POST
must carry a SigV4 signature made with the stack's secret key for this service and region, checked as
AWS checks it (botocore computes the expected signature; a declared ``X-Amz-Content-SHA256`` must be
the hash of the body received). A body over ``MAX_BODY_BYTES`` is refused before it is read.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import secrets
import signal
import threading
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Mapping

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, extra: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra or {}


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # the request line's path and query, as sent (what was signed)
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        try:
            return json.loads(self.body or b"{}")
        except ValueError as exc:
            raise ApiError(400, "SerializationException", f"body is not JSON: {exc}") from exc

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


Service = Callable[[Request], dict]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_CLOCK_SKEW_SECONDS = 15 * 60  # as AWS: an older signature has expired
MAX_BODY_BYTES = 5 * 1024 * 1024  # a request body over this is refused before it is read
SIGV4 = "AWS4-HMAC-SHA256"


@dataclass(frozen=True)
class Guard:
    """Who may call a local API (see the module's docstring)."""

    signing_name: str  # "glue", "airflow" (MWAA)
    region: str
    # Any access key id, as the emulators accept; the secret must be one of these. Empty: any secret
    # (only the signature's form, scope and age are checked; see --accept-any-secret).
    secret_keys: tuple[str, ...]
    hosts: tuple[str, ...] = LOOPBACK_HOSTS
    unsigned_paths: tuple[str, ...] = ()  # authenticated another way (MWAA's CLI token)

    def check(self, request: Request) -> None:
        """Raises the ApiError AWS would answer for a refused request."""
        host = urllib.parse.urlsplit("//" + request.header("host")).hostname or ""
        if host not in self.hosts:
            raise ApiError(403, "AccessDeniedException", f"unknown host {host!r}")
        browser = [h for h in request.headers if h == "origin" or h.startswith("sec-fetch-")]
        if browser:
            raise ApiError(
                403, "AccessDeniedException", f"requests from web pages are refused ({browser[0]})"
            )
        if request.method == "POST" and request.path not in self.unsigned_paths:
            self.check_signature(request)

    def check_signature(self, request: Request) -> None:
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
        _key_id, day, region, service, _terminator = scope
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
        if not self.secret_keys:
            return
        expected = [self.signature(request, signed, stamp, secret) for secret in self.secret_keys]
        if not any(hmac.compare_digest(e, fields["Signature"]) for e in expected):
            raise ApiError(
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided",
            )

    def signature(self, request: Request, signed: list[str], stamp: str, secret: str) -> str:
        """The signature a client holding ``secret`` makes for this request."""
        copy = AWSRequest(
            method=request.method,
            url=f"http://{request.header('host')}{request.target}",
            data=request.body,
            headers={h: request.headers[h] for h in signed},
        )
        copy.context["timestamp"] = stamp
        signer = SigV4Auth(Credentials("any", secret), self.signing_name, self.region)
        canonical = signer.canonical_request(copy)
        return signer.signature(signer.string_to_sign(copy, canonical), copy)


def handler_class(
    service: Service,
    health: Callable[[], dict],
    content_type: str,
    invalid_input_code: str,
    guard: Guard,
) -> type[BaseHTTPRequestHandler]:
    """A request handler: ``service`` for POST, ``health`` for GET /health, each request checked by
    ``guard`` first. A KeyError or ValueError from the service is the caller's fault: 400
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
                {"__type": error.code, "message": error.message, **error.extra},
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

        def do_GET(self):
            try:
                request = self._request("GET")
                guard.check(request)
            except ApiError as error:
                self._error(error)
                return
            if request.path.rstrip("/") in ("", "/health"):
                self._reply(200, health())
            else:
                self._error(ApiError(404, "ResourceNotFoundException", f"no route {self.path}"))

        def do_POST(self):
            try:
                request = self._request("POST")
            except ApiError as error:
                self._error(error)
                return
            try:
                guard.check(request)
                self._reply(200, service(request))
            except ApiError as error:
                self._error(error)
            except (KeyError, ValueError) as exc:
                self._error(ApiError(400, invalid_input_code, repr(exc)))
            except Exception as exc:  # a bug in one request must not kill the service
                log.exception("%s %s failed", request.method, request.path)
                self._error(ApiError(500, "InternalServiceException", str(exc)))

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
        "session keys only the emulator knows (LocalStack's Lambdas)",
    )


def guard_from(
    args: argparse.Namespace,
    signing_name: str,
    region: str,
    environ: Mapping[str, str],
    unsigned_paths: tuple[str, ...] = (),
) -> Guard:
    """The guard of a service started with ``add_guard_arguments``: the stack's secret key is the one
    in the service's own environment (AWS_SECRET_ACCESS_KEY), as its SDK clients use."""
    return Guard(
        signing_name,
        region,
        () if args.accept_any_secret else (environ["AWS_SECRET_ACCESS_KEY"],),
        LOOPBACK_HOSTS + tuple(args.allowed_host),
        unsigned_paths,
    )


def serve(host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
    """Serves until SIGTERM (then returns after in-flight requests)."""
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
