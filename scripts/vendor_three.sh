#!/usr/bin/env bash
# Vendor three.js (MIT) for the self-contained preview page (img2gs/preview/): the minified ES module
# build and the OrbitControls add-on, from the npm registry, with their licence. Run from the repo root
# to change the version; the files are committed (the page is written offline, and users need no node).
# Usage: bash scripts/vendor_three.sh [version]
set -euo pipefail
version="${1:-0.170.0}"
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "three@${version}" >/dev/null && tar xzf "three-${version}.tgz")
dest=img2gs/preview/vendor
mkdir -p "$dest"
cp "$tmp/package/build/three.module.min.js" "$dest/three.module.min.js"
cp "$tmp/package/examples/jsm/controls/OrbitControls.js" "$dest/OrbitControls.js"
cp "$tmp/package/LICENSE" "$dest/LICENSE-three.txt"
echo "$version" > "$dest/THREE_VERSION"
echo "vendored three.js $version into $dest"
