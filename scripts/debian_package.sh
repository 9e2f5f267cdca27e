# Sourced by scripts/fetch_*.sh: the steps every fetch of one Debian package shares.

# require_tools TOOL...: exit 2 with one line unless every TOOL is on the PATH.
require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 2; }
  done
}

# refuse_existing PATH: exit 2 with one line if PATH exists (a fetch never replaces what is there).
refuse_existing() {
  if [ -e "$1" ]; then
    echo "error: $1 already exists (remove it to fetch again)" >&2
    exit 2
  fi
}

# download_package PACKAGE: sets WORK to a temporary folder (removed on exit) holding PACKAGE's .deb.
download_package() {
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  chmod 755 "$WORK"  # apt-get download drops privileges to _apt where it can
  (cd "$WORK" && apt-get download -q "$1")
}
