#!/usr/bin/env bash
# Prints the KPIs from DynamoDB.  Usage: scripts/kpis.sh [--date YYYY-MM-DD] [--genre G] [--json]
set -euo pipefail
source "$(dirname "$0")/_env.sh"
exec "$PY" -m devstack kpis "$@"
