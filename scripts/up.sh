#!/usr/bin/env bash
# Set up (if needed) and start CubeLab on this machine. Arguments go to `cubelab up`,
# e.g.  scripts/up.sh --admin alice --port 8000 --data-dir ./cubelab-data
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# by the virtualenv's real path: user accounts run the same interpreter, and may not
# pass through the checkout's directory (a clone under /root)
exec "$(readlink -f .venv)/bin/cubelab" up "$@"
