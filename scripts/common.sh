# Shared by the set-up scripts (sourced): messages and Debian packages.

say() { printf '\n== %s\n' "$*"; }

apt_install() {
  # only what is missing; needs root (CI and these machines run as root)
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "Please install these Debian packages: ${missing[*]}" >&2
    return 1
  fi
  say "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
