#!/usr/bin/env bash
# Set up CubeLab on this machine: system packages, a virtualenv in .venv (as root, a
# link to one under /opt/cubelab that every user account can run), the package with
# its JupyterLab plugin built in. Safe to run again.
#   CUBELAB_EXTRAS=test   also install the test tools (and Debian's Chromium, and code-server)
#   CUBELAB_CODE_SERVER_INSTALL=1   install code-server for the VS Code kind (scripts/install-code-server.sh)
#   CUBELAB_SERVING_INSTALL=1   install the model server of built-in inference services (scripts/install-serving.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
EXTRAS=${CUBELAB_EXTRAS:-}

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Python 3.11 or 3.12. As root, user accounts run the same interpreter as the platform
# (notebook servers and tasks run as each user's own account), so prefer Debian's,
# which every account can execute; an interpreter under a 0700 home (pyenv's under
# /root) could not be.
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  candidates=(python3.11 python3.12 python3)
  [ "$(id -u)" -eq 0 ] && candidates=(/usr/bin/python3.11 /usr/bin/python3.12 "${candidates[@]}")
  for candidate in "${candidates[@]}"; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 13)' 2>/dev/null; then
      PYTHON=$candidate; break
    fi
  done
fi
[ -n "$PYTHON" ] || { echo "CubeLab needs Python 3.11 or 3.12" >&2; exit 1; }

# Node.js 20+ builds the JupyterLab plugin
if ! command -v node >/dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  apt_install nodejs npm
fi
if [ -n "$EXTRAS" ]; then
  apt_install chromium
fi
# the services' gateway is nginx (see docs/services.md); bench/gateway.py compares it
# with HAProxy and Caddy under wrk's load
apt_install nginx
# the image registry `cubelab up` runs on loopback (the CNCF distribution server 2.8;
# token authentication by the control plane, see docs/registries.md)
apt_install docker-registry
# image builds run buildah (vfs storage, chroot isolation; see docs/builds.md)
apt_install buildah
if [[ ",$EXTRAS," == *,test,* ]]; then
  apt_install wrk haproxy caddy
fi
# the storage tests start a throw-away PostgreSQL server from Debian's package
if [[ ",$EXTRAS," == *,test,* ]]; then
  apt_install postgresql
fi
# the tests open VS Code in Chromium, so a test set-up installs code-server too
if [ "${CUBELAB_CODE_SERVER_INSTALL:-}" = 1 ] || [[ ",$EXTRAS," == *,test,* ]]; then
  bash "$ROOT/scripts/install-code-server.sh"
fi

# As root the virtualenv lives under /opt/cubelab (readable by every account, whatever
# the checkout's own path allows: a clone under /root is not), one per checkout, and
# .venv links to it. Otherwise it is .venv itself.
if [ "$(id -u)" -eq 0 ]; then
  VENV=${CUBELAB_VENV:-/opt/cubelab/venv-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)}
  install -d -m 0755 "$(dirname "$VENV")"
  if [ -d .venv ] && [ ! -L .venv ]; then
    say "replacing the checkout-local .venv by a link to $VENV"
    rm -rf .venv
  fi
  if [ -x "$VENV/bin/python" ] && ! runuser -u nobody -- "$VENV/bin/python" -c '' 2>/dev/null; then
    say "$VENV's interpreter is not executable by other accounts: rebuilding it"
    rm -rf "$VENV"
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "virtualenv $VENV ($PYTHON)"
    (umask 022 && "$PYTHON" -m venv "$VENV")
  fi
  ln -sfn "$VENV" .venv
elif [ ! -x .venv/bin/python ]; then
  say "virtualenv .venv ($PYTHON)"
  "$PYTHON" -m venv .venv
fi
# packages readable by every account (notebook servers and tasks run as users)
umask 022
.venv/bin/python -m pip install -q --upgrade pip

say "pip install .${EXTRAS:+[$EXTRAS]} (builds the JupyterLab plugin)"
# a fresh build of the Lab plugin every time, so the wheel never ships a stale one
rm -rf server_ext/cubelab_server/labextension
.venv/bin/python -m pip install -q ".${EXTRAS:+[$EXTRAS]}"

# JupyterHub's proxy (Node.js configurable-http-proxy), pinned and locked in its own npm
# project; installed next to the virtualenv, where `cubelab up` looks for it
PROXY_SRC=hub/cubelab_hub/platform/proxy
# (by its real path: npm takes a prefix reached through a link, .venv as root, for a link to the project)
PROXY_DIR=$(readlink -f .venv)/share/cubelab/proxy
if ! cmp -s "$PROXY_SRC/package-lock.json" "$PROXY_DIR/package-lock.json" || [ ! -x "$PROXY_DIR/node_modules/.bin/configurable-http-proxy" ]; then
  say "npm ci configurable-http-proxy into $PROXY_DIR"
  mkdir -p "$PROXY_DIR"
  cp "$PROXY_SRC/package.json" "$PROXY_SRC/package-lock.json" "$PROXY_DIR/"
  npm ci --prefix "$PROXY_DIR" --ignore-scripts --no-audit --no-fund
fi
# the hub runs it, whichever account that is
chmod -R a+rX "$PROXY_DIR"

# the model server of built-in inference services, in a virtualenv of its own; the tests
# serve a model with it, so a test set-up installs it too
if [ "${CUBELAB_SERVING_INSTALL:-}" = 1 ] || [[ ",$EXTRAS," == *,test,* ]]; then
  bash "$ROOT/scripts/install-serving.sh"
fi

# the plugin's build tooling, for the jest tests and the linters (a no-op when up to date)
if [ -n "$EXTRAS" ]; then
  (cd "$ROOT" && .venv/bin/jlpm install)
fi

# (captured first: grep -q closing the pipe early would fail the pipeline)
labext=$(.venv/bin/jupyter labextension list 2>&1)
grep -q "cubelab v.*enabled.*OK" <<<"$labext" || { echo "$labext"; echo "the CubeLab Lab plugin is not installed" >&2; exit 1; }
serverext=$(.venv/bin/jupyter server extension list 2>&1)
grep -q "cubelab_server .*OK" <<<"$serverext" || { echo "$serverext"; echo "the CubeLab server extension is not enabled" >&2; exit 1; }
say "CubeLab is installed in $ROOT/.venv"
