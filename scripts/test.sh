#!/usr/bin/env bash
# Set up CubeLab with its test tools, then lint and run every test: ruff, prettier and
# eslint, the Lab plugin's jest tests and the Python suite (real JupyterHub, real
# processes, Debian Chromium, PostgreSQL).
# Extra arguments go to pytest. Artifacts (logs, screenshots): test-artifacts/
set -euo pipefail
cd "$(dirname "$0")/.."
CUBELAB_EXTRAS=test bash scripts/setup.sh

# the virtualenv's tools (jlpm, which the Lab plugin's scripts call by name) first on PATH
export PATH="$(readlink -f .venv)/bin:$PATH"
export CUBELAB_TEST_ARTIFACTS=${CUBELAB_TEST_ARTIFACTS:-$(pwd)/test-artifacts}
mkdir -p "$CUBELAB_TEST_ARTIFACTS"
echo "Test artifacts (logs, screenshots): $CUBELAB_TEST_ARTIFACTS"

echo "== ruff (Python)"
"$(readlink -f .venv)/bin/ruff" check .

echo "== prettier and eslint (Lab plugin)"
.venv/bin/jlpm lint:check

echo "== jest (Lab plugin)"
.venv/bin/jlpm test --ci

echo "== pytest"
status=0
# by the virtualenv's real path (see up.sh): test accounts run the same interpreter
"$(readlink -f .venv)/bin/python" -m pytest -p no:cacheprovider -ra "$@" || status=$?
echo "Test artifacts (logs, screenshots): $CUBELAB_TEST_ARTIFACTS"
exit $status
