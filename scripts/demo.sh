#!/usr/bin/env bash
# The main job, Docker-free: installs what is missing, starts the local stack (MiniStack, local
# Glue and MWAA APIs, Airflow), uploads the sample data (or DATA_DIR) to the raw bucket, follows the
# DAG runs the Lambda starts, and prints the KPIs.  Usage: scripts/demo.sh [DATA_DIR]
set -euo pipefail
"$(dirname "$0")/install"
source "$(dirname "$0")/_env.sh"
cd "$ROOT"
exec "$PY" -m devstack demo "$@"
