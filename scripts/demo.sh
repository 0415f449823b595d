#!/usr/bin/env bash
# Installs what is missing, then runs the pipeline's Glue jobs on the sample data against a local
# AWS emulator (no Docker) and prints the KPIs.  Usage: scripts/demo.sh [DATA_DIR] [--port P]
set -euo pipefail
"$(dirname "$0")/install"
source "$(dirname "$0")/_env.sh"
exec "$PY" -m devstack.demo "$@"
