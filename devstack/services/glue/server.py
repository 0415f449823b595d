"""The local Glue API's server: its backend with a run supervisor, and ``main``."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from devstack.services import http_api
from devstack.services.glue import catalog, models, responses, runtime, supervisor
from music_streaming import config

log = logging.getLogger("glue_service")


def create_backend(
    state_dir: Path,
    endpoint: str,
    region: str = config.DEFAULT_REGION,
    run_runtime: runtime.Runtime | None = None,
    glue_endpoint: str = "",
    act_as_job_role: bool = False,
) -> models.GlueBackend:
    """The state in ``state_dir``, runs against the emulator at ``endpoint`` (their catalog
    calls to ``glue_endpoint``, this service), each as its job's role if ``act_as_job_role``."""
    backend = models.GlueBackend(state_dir, region)
    backend.supervisor = supervisor.RunSupervisor(
        backend, run_runtime or runtime.Runtime(), endpoint, region, glue_endpoint, act_as_job_role
    )
    return backend


def main() -> None:
    parser = argparse.ArgumentParser(description="The local AWS Glue API")
    http_api.add_guard_arguments(parser)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--endpoint", required=True, help="the S3/Logs emulator")
    parser.add_argument("--region", default=config.DEFAULT_REGION)
    parser.add_argument(
        "--act-as-job-role",
        action="store_true",
        help="run each job with a session of its role from the emulator's STS, as Glue does",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    backend = create_backend(
        args.state_dir,
        args.endpoint,
        args.region,
        runtime.Runtime.from_env(os.environ),
        glue_endpoint=f"http://127.0.0.1:{args.port}",
        act_as_job_role=args.act_as_job_role,
    )
    log.info(
        "local Glue API on http://%s:%d (S3 and logs at %s)", args.host, args.port, args.endpoint
    )
    guard = http_api.guard_from(args, "glue", args.region, os.environ, authorize_calls=True)
    handler = responses.handler_class(backend, catalog.Catalog(args.state_dir), guard)
    http_api.serve(args.host, args.port, handler)
