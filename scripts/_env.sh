# Sourced by the scripts: the project's Python and import paths.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
if [[ ! -x "$PY" ]]; then echo "run scripts/install first" >&2; exit 1; fi
export PYTHONPATH="$ROOT:$ROOT/glue${PYTHONPATH:+:$PYTHONPATH}"
