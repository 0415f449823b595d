"""The local Athena API's server: its backend over the stack's catalog and S3, and ``main``."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import boto3

from devstack.services import http_api
from devstack.services.athena import models, responses
from music_streaming import aws, config

log = logging.getLogger("athena_service")


def create_backend(
    state_dir: Path, endpoint: str, glue_endpoint: str, region: str = config.DEFAULT_REGION
) -> models.AthenaBackend:
    """Queries over the catalog at ``glue_endpoint`` and the S3 at ``endpoint``; the workgroups
    ``primary`` and the pipeline's (results under its processed bucket, enforced, as in AWS)."""
    glue = boto3.client(
        "glue", endpoint_url=glue_endpoint, region_name=region, config=aws.retrying()
    )
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, config=aws.retrying())
    settings = config.settings()
    pipeline = models.workgroup(
        config.ATHENA_WORKGROUP,
        f"s3://{settings['processed_bucket']}/{config.ATHENA_RESULTS_PREFIX}",
        enforce=True,
    )
    return models.AthenaBackend(state_dir, glue, s3, [pipeline])


def main() -> None:
    parser = argparse.ArgumentParser(description="The local Amazon Athena API")
    http_api.add_guard_arguments(parser)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--endpoint", required=True, help="the S3 emulator")
    parser.add_argument("--glue-endpoint", required=True, help="the local Glue API (its catalog)")
    parser.add_argument("--region", default=config.DEFAULT_REGION)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    backend = create_backend(args.state_dir, args.endpoint, args.glue_endpoint, args.region)
    log.info("local Athena API on http://%s:%d", args.host, args.port)
    guard = http_api.guard_from(args, "athena", args.region, os.environ, authorize_calls=True)
    http_api.serve(args.host, args.port, responses.handler_class(backend, guard))
