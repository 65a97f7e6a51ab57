#!/usr/bin/env bash
# Thin wrapper: run bench/compare.py with a Python that can import the project.
# Picks $PYTHON, else the active virtualenv, else ./.venv, else python3. Usage: bash bench/compare.sh --help
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for py in "${PYTHON:-}" "${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}" \
          "$here/../.venv/bin/python" python3 python; do
    [[ -n "$py" ]] || continue
    if "$py" -c 'import uvicorn, starlette, jsonschema_rs, yaml' >/dev/null 2>&1; then
        exec "$py" "$here/compare.py" "$@"
    fi
done
echo "compare.sh: no Python here has the project's dependencies; install it (pip install -e .)" \
     "or set PYTHON=/path/to/venv/bin/python" >&2
exit 2
