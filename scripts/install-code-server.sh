#!/usr/bin/env bash
# Install code-server (VS Code in the browser) for CubeLab's VS Code kind and launcher tile.
# Safe to run again: an installed, working version is kept.
#
#   as root:   /opt/cubelab/code-server-<version>, readable and runnable by every account,
#              linked from /opt/cubelab/bin/code-server
#   otherwise: ~/.local/lib/code-server-<version>, linked from ~/.local/bin/code-server
#
# Environment:
#   CODE_SERVER_VERSION   default 4.100.3 (the newest that accepts Node.js 20)
#   CODE_SERVER_PREFIX    where the install goes (default above)
#   CODE_SERVER_BIN_DIR   where the stable link goes (default above)
#
# Works offline except for npm's registry and Debian's: the native modules build from
# source against the Debian Node.js headers, and ripgrep comes from Debian's package.
set -euo pipefail

VERSION=${CODE_SERVER_VERSION:-4.100.3}
if [ "$(id -u)" -eq 0 ]; then
  PREFIX=${CODE_SERVER_PREFIX:-/opt/cubelab/code-server-$VERSION}
  BIN_DIR=${CODE_SERVER_BIN_DIR:-/opt/cubelab/bin}
else
  PREFIX=${CODE_SERVER_PREFIX:-$HOME/.local/lib/code-server-$VERSION}
  BIN_DIR=${CODE_SERVER_BIN_DIR:-$HOME/.local/bin}
fi
ENTRY=$PREFIX/node_modules/code-server/out/node/entry.js
LINK=$BIN_DIR/code-server

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

installed_version() {  # [entry.js]
  local entry=${1:-$ENTRY}
  [ -f "$entry" ] || return 1
  # a throw-away HOME: code-server's first run writes a config file (with a password) there
  local home
  home=$(mktemp -d)
  HOME=$home node "$entry" --version 2>/dev/null | grep -m1 -oE '^[0-9]+\.[0-9]+\.[0-9]+' || true
  rm -rf "$home"
}

link() {
  mkdir -p "$BIN_DIR"
  # a small wrapper rather than a symlink: it names the exact node entry point, so the
  # link works from any PATH and survives npm's .bin layout changes
  local tmp
  tmp=$(mktemp "$BIN_DIR/.code-server.XXXXXX")
  printf '#!/bin/sh\nexec %s %s "$@"\n' "'$(command -v node)'" "'$ENTRY'" >"$tmp"
  chmod 0755 "$tmp"
  mv -f "$tmp" "$LINK"
  if [ "$(id -u)" -eq 0 ]; then chmod 0755 "$BIN_DIR" "$(dirname "$PREFIX")"; fi
}

if [ "$(installed_version || true)" = "$VERSION" ]; then
  link
  echo "code-server $VERSION is installed in $PREFIX ($LINK)"
  exit 0
fi

command -v node >/dev/null && node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' \
  || { echo "code-server $VERSION needs Node.js 20 (scripts/setup.sh installs it)" >&2; exit 1; }
command -v npm >/dev/null || apt_install npm
apt_install build-essential python3 pkg-config libkrb5-dev ripgrep

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# @vscode/ripgrep downloads ripgrep from GitHub unless its cache (under the temporary
# directory) already holds the release archive; Debian's rg (13.0.0, the same version) fills it.
# (the archive's name is the x86_64 one; elsewhere it downloads as usual)
if [ "$(uname -m)" = x86_64 ]; then
  mkdir -p "$WORK/vscode-ripgrep-cache-1.15.11"
  cp "$(command -v rg)" "$WORK/rg"
  tar -C "$WORK" -czf "$WORK/vscode-ripgrep-cache-1.15.11/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" rg
fi

# into a staging directory first, so a failed install never leaves a half-written prefix
STAGE=$PREFIX.partial
rm -rf "$STAGE"
mkdir -p "$STAGE"
say "npm install code-server@$VERSION (builds native modules; a few minutes)"
started=$(date +%s)
(
  cd "$STAGE"
  export TMPDIR=$WORK
  export npm_config_unsafe_perm=true   # its postinstall refuses to run as root otherwise
  export npm_config_yes=true           # node-pty's postinstall runs `npx node-gyp`
  if [ -d /usr/include/node ]; then export npm_config_nodedir=/usr; fi  # no header download
  npm install --prefix "$STAGE" --no-audit --no-fund --loglevel=error "code-server@$VERSION"
)
got=$(installed_version "$STAGE/node_modules/code-server/out/node/entry.js" || true)
if [ "$got" != "$VERSION" ]; then
  echo "code-server did not install: its --version says '${got:-nothing}' (left in $STAGE)" >&2
  exit 1
fi
# native modules (node-pty, argon2, ...) load by paths relative to their package: the move keeps them working
rm -rf "$PREFIX"
mv "$STAGE" "$PREFIX"
if [ "$(id -u)" -eq 0 ]; then chmod -R a+rX,go-w "$PREFIX"; fi
link
echo "code-server $VERSION installed in $PREFIX ($LINK) in $(( $(date +%s) - started ))s"
