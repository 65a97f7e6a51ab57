#!/usr/bin/env bash
# The documentation's two pictures, made again from the code, into docs/images/:
#   dashboard.png  the dashboard with tasks in every state, a screenshot the browser test takes
#                  in Debian's Chromium (tests/web/test_ui_browser.py; apt-get install chromium)
#   task-life.png  a task's life and its callback's retries, drawn by scripts/docs_figure.py
#                  from the simulator's own run on its virtual clock (the `docs` extra)
# Usage: scripts/docs-images.sh   (PYTHON=... names the interpreter; default .venv/bin/python,
# which needs the `test` and `docs` extras: pip install -e '.[test,docs]')
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
images="$root/docs/images"
mkdir -p "$images"
cd "$root"
rm -f "$images/dashboard.png"
# the one browser test that takes it: it fails (never skips quietly) if it cannot
EVOLINK_DOCS_IMAGES="$images" "$python" -m pytest -q -p no:cacheprovider -n 0 \
    "tests/web/test_ui_browser.py::test_the_dashboard_shows_tasks_in_every_state"
test -s "$images/dashboard.png" || { echo "docs-images: no screenshot was taken" >&2; exit 1; }
"$python" scripts/docs_figure.py "$images/task-life.png"
echo "docs-images: $images/dashboard.png $images/task-life.png"
