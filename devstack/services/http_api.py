"""The HTTP plumbing both local AWS APIs (Glue, MWAA) share. Standard library only: the Glue image
runs these services, so no web framework.

A service is a function from a ``Request`` to a JSON-able reply; it raises ``ApiError`` for an AWS
error, which goes out as botocore reads it (``__type`` in the body and ``X-Amzn-ErrorType``).
``GET /health`` answers with the service's health document. SIGTERM stops the server cleanly.
"""

from __future__ import annotations

import json
import logging
import secrets
import signal
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, extra: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra or {}


@dataclass(frozen=True)
class Request:
    method: str
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


def handler_class(
    service: Service, health: Callable[[], dict], content_type: str, invalid_input_code: str
) -> type[BaseHTTPRequestHandler]:
    """A request handler: ``service`` for POST, ``health`` for GET /health. A KeyError or
    ValueError from the service is the caller's fault: 400 ``invalid_input_code``."""

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

        def do_GET(self):
            if urllib.parse.urlsplit(self.path).path.rstrip("/") in ("", "/health"):
                self._reply(200, health())
            else:
                self._error(ApiError(404, "ResourceNotFoundException", f"no route {self.path}"))

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            url = urllib.parse.urlsplit(self.path)
            request = Request(
                "POST",
                url.path,
                urllib.parse.parse_qs(url.query),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length) if length else b"",
            )
            try:
                self._reply(200, service(request))
            except ApiError as error:
                self._error(error)
            except (KeyError, ValueError) as exc:
                self._error(ApiError(400, invalid_input_code, repr(exc)))
            except Exception as exc:  # a bug in one request must not kill the service
                log.exception("%s %s failed", request.method, request.path)
                self._error(ApiError(500, "InternalServiceException", str(exc)))

    return Handler


def serve(host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
    """Serves until SIGTERM (then returns after in-flight requests)."""
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
