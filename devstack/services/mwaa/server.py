"""The local MWAA API's listeners: MWAA's REST API, and the environment's web server, over HTTPS on
its own port when given a certificate (as MWAA's is: the provider's hook logs in over https), else on
the API's port.

    python -m devstack.services.mwaa --port 4590 --environment NAME --airflow-url URL \\
        --airflow-password-file FILE [--web-port 4591 --tls-cert CERT --tls-key KEY] \\
        [--identity-url EMULATOR]
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import ssl
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

from devstack.core import emulator
from devstack.core.airflow_api import Airflow
from devstack.services import http_api
from devstack.services.mwaa import responses
from devstack.services.mwaa.models import Environment, Mwaa
from music_streaming import config

log = logging.getLogger("mwaa")


def handler_class(mwaa: Mwaa, guard: http_api.Guard, service: http_api.Service):
    """A listener's handler: ``service`` is the API's (``responses.api``) or the web server's
    (``responses.web``)."""
    return http_api.handler_class(
        service,
        lambda: {"status": "healthy", "environment": mwaa.environment.name},
        "application/json",
        "ValidationException",
        guard,
    )


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    http_api.add_guard_arguments(parser)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--region", default=config.DEFAULT_REGION)
    parser.add_argument("--account", default=emulator.LOCAL_ACCOUNT)
    parser.add_argument("--environment", required=True)
    parser.add_argument("--airflow-url", required=True)
    parser.add_argument("--airflow-password-file", type=Path, required=True)
    parser.add_argument("--airflow-cli", default="airflow", help="command that runs the CLI")
    parser.add_argument("--airflow-version", default="3.0.6")
    parser.add_argument("--execution-role-arn", default="")
    parser.add_argument("--source-bucket-arn", default="")
    parser.add_argument("--dag-s3-path", default="dags")
    parser.add_argument("--web-hostname", default="127.0.0.1", help="the web server's host name")
    parser.add_argument("--web-port", type=int, help="serve the web server over HTTPS here")
    parser.add_argument("--tls-cert", type=Path, help="the web server's certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="its private key (PEM)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    guard = http_api.guard_from(
        args, "airflow", args.region, os.environ, () if args.web_port else responses.WEB_PATHS
    )
    environment = Environment(
        args.environment,
        args.region,
        args.account,
        args.airflow_version,
        args.execution_role_arn,
        args.source_bucket_arn,
        args.dag_s3_path,
        f"{args.web_hostname}:{args.web_port or args.port}",
        time.time(),
    )
    mwaa = Mwaa(
        environment,
        lambda user: Airflow(args.airflow_url, user, args.airflow_password_file),
        shlex.split(args.airflow_cli),
        guard.identity,
    )
    web_server = None
    if args.web_port:
        if not (args.tls_cert and args.tls_key):
            parser.error("--web-port needs --tls-cert and --tls-key")
        web_guard = http_api.Guard("airflow", args.region, (), guard.hosts, unsigned_paths=("/",))
        server = ThreadingHTTPServer(
            (args.host, args.web_port),
            handler_class(mwaa, web_guard, responses.web(mwaa, args.airflow_url)),
        )
        server.socket = tls_context(args.tls_cert, args.tls_key).wrap_socket(
            server.socket, server_side=True
        )
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    else:
        web_server = responses.web(mwaa, args.airflow_url)
    log.info(
        "local MWAA API for %r on http://%s:%d, web server %s -> %s",
        args.environment,
        args.host,
        args.port,
        environment.web_hostname,
        args.airflow_url,
    )
    http_api.serve(
        args.host, args.port, handler_class(mwaa, guard, responses.api(mwaa, web_server))
    )


if __name__ == "__main__":
    main()
