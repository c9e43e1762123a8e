#!/usr/bin/env bash
# Install the model server of built-in inference services (MLServer and its runtimes, the
# 'serving' extra of pyproject.toml) into a virtualenv of its own next to the platform's:
# <platform venv>/share/cubelab/serving. Replicas run as their owners' accounts, so it is
# built with the platform's system interpreter and left readable by every account.
# Safe to run again: an install with the same pins is kept.
#
# Environment:
#   CUBELAB_SERVING_VENV   where the virtualenv goes (default above); cubelab_hub.serving
#                          looks there too when it is set
set -euo pipefail
cd "$(dirname "$0")/.."
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ -x .venv/bin/python ] || { echo "run scripts/setup.sh first: .venv is missing" >&2; exit 1; }
PLATFORM_VENV=$(readlink -f .venv)
SERVING=${CUBELAB_SERVING_VENV:-$PLATFORM_VENV/share/cubelab/serving}
# the interpreter the platform's virtualenv was made from (Debian's, as root: every account runs it)
PYTHON=$(readlink -f .venv/bin/python)

# the pins, one a line, from the one place they are written
PINS=$(.venv/bin/python -c '
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["serving"]))')
STAMP=$SERVING/cubelab-serving-pins.txt

if [ -x "$SERVING/bin/mlserver" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$PINS" ]; then
  say "the model server is installed in $SERVING"
  exit 0
fi
umask 022
say "model server (MLServer) into $SERVING"
# only a virtualenv is replaced, never a folder someone pointed CUBELAB_SERVING_VENV at by mistake
if [ -e "$SERVING" ] && [ ! -f "$SERVING/pyvenv.cfg" ]; then
  echo "$SERVING exists and is not a virtualenv; move it or choose another CUBELAB_SERVING_VENV" >&2
  exit 1
fi
rm -rf "$SERVING"
mkdir -p "$(dirname "$SERVING")"
"$PYTHON" -m venv "$SERVING"
"$SERVING/bin/python" -m pip install -q --upgrade pip
# shellcheck disable=SC2086
"$SERVING/bin/python" -m pip install -q $PINS
"$SERVING/bin/python" -m pip check
printf '%s' "$PINS" > "$STAMP"
chmod -R a+rX "$SERVING"
"$SERVING/bin/mlserver" --version
