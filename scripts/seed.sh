#!/usr/bin/env bash
# Uploads every CSV of DIR (default: scripts/sample_data) to the raw bucket of the endpoint that
# AWS_ENDPOINT_URL names (or AWS itself when unset).  Usage: scripts/seed.sh [DIR] [--bucket B]
set -euo pipefail
source "$(dirname "$0")/_env.sh"
exec "$PY" -m devstack seed "$@"
