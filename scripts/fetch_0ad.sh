#!/usr/bin/env bash
# Fetch 0 A.D.'s game art from Debian's `0ad-data` package (1.4 GB download) and keep only the one
# archive `img2gs data build --meshes` reads: mods/public/public.zip (3.3 GB, ~4,000 PMD models with
# DDS textures: animals and people, plants and rocks, props), read in place without unpacking.
#
#   bash scripts/fetch_0ad.sh [DEST]        # default DEST: data/0ad (gitignored) -> DEST/public.zip
#   img2gs data build --preset cpu_0ad -o data/cpu_0ad --meshes data/0ad/public.zip --workers 2
#
# Needs apt-get (a Debian / Ubuntu machine with the package in its sources), dpkg-deb and tar. About
# 2 minutes here. Licence: CC-BY-SA 3.0 (Wildfire Games); Debian's copyright file is kept as
# DEST/LICENSE. Renders and models made from it carry the same licence and need attribution. Never
# commit DEST.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${1:-$ROOT/data/0ad}"
PACKAGE=0ad-data

source "$ROOT/scripts/debian_package.sh"
require_tools apt-get dpkg-deb tar
refuse_existing "$DEST/public.zip"

echo "downloading $PACKAGE (about 1.4 GB) ..."
download_package "$PACKAGE"
echo "extracting public.zip ..."
dpkg-deb --fsys-tarfile "$WORK"/${PACKAGE}_*.deb | tar -x -C "$WORK" --wildcards '*mods/public/public.zip' \
  '*doc/0ad-data/copyright'
mkdir -p "$DEST"
mv "$(find "$WORK" -name public.zip | head -1)" "$DEST/public.zip.tmp"
cp "$(find "$WORK" -path '*doc/0ad-data/copyright' | head -1)" "$DEST/LICENSE" 2>/dev/null || true
mv "$DEST/public.zip.tmp" "$DEST/public.zip"
echo "wrote $DEST/public.zip"
