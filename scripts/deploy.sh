#!/usr/bin/env bash
# Package and deploy the same artifacts to AWS or to the running local stack.
#   scripts/deploy.sh --target aws|local [--dry-run] [--stack-name NAME] [--mwaa SUBNETS SGS]
set -euo pipefail
source "$(dirname "$0")/_env.sh"
cd "$ROOT"
exec "$PY" -m devstack deploy "$@"
