#!/usr/bin/env bash
# Set up (if needed) and start CubeLab on this machine. Arguments go to `cubelab up`,
# e.g.  scripts/up.sh --admin alice --port 8000 --data-dir ./cubelab-data
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/cubelab up "$@"
