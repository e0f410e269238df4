#!/usr/bin/env bash
# Writes constraints.txt anew: the newest versions of bench's dependencies that install today, in a
# fresh virtualenv, as `scripts/setup.sh` and `.ci/run` then install them. Run the tests with them
# (`scripts/setup.sh && .venv/bin/pytest`) before committing the new file.
set -euo pipefail
cd "$(dirname "$0")/.."
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
python3 -m venv "$fresh/venv"
"$fresh/venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$fresh/venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]"
{
  echo "# The versions bench's tests passed with; scripts/setup.sh installs these. Refresh: scripts/refresh-constraints.sh"
  "$fresh/venv/bin/python" -m pip freeze --disable-pip-version-check --exclude-editable | grep -v '^celery-nullpool-bench'
} > constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) packages" >&2
