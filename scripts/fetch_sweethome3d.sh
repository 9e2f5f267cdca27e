#!/usr/bin/env bash
# Fetch the Sweet Home 3D furniture catalogs (about 820 OBJ models with MTL materials and textures)
# from Debian's `sweethome3d-furniture` package and unpack them for `img2gs data build --meshes`.
#
#   bash scripts/fetch_sweethome3d.sh [DEST]        # default DEST: data/sweethome3d (gitignored)
#
# Needs apt-get (a Debian / Ubuntu machine with the package in its sources), dpkg-deb and unzip.
# Licences: the catalogs are CC0 (BlendSwap-CC-0) and CC-BY 3.0 (the others). Debian's copyright file
# is kept as DEST/LICENSE, and each catalog's own LICENSE.TXT / per-model licence files stay beside
# the models; `img2gs data build` records each model's licence and credit in the dataset's meta.json.
# CC-BY requires attribution when you distribute renders or models made from them. Never commit DEST.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${1:-$ROOT/data/sweethome3d}"
PACKAGE=sweethome3d-furniture

source "$ROOT/scripts/debian_package.sh"
require_tools apt-get dpkg-deb unzip
refuse_existing "$DEST"

echo "downloading $PACKAGE (about 120 MB) ..."
download_package "$PACKAGE"
dpkg-deb -x "$WORK"/${PACKAGE}_*.deb "$WORK/pkg"

STAGE="$DEST.partial.$$"
mkdir -p "$STAGE"
cp "$WORK/pkg/usr/share/doc/$PACKAGE/copyright" "$STAGE/LICENSE"
for catalog in "$WORK"/pkg/usr/share/sweethome3d/furniture/*.sh3f; do
  name="$(basename "$catalog" .sh3f)"
  echo "unpacking $name"
  unzip -q "$catalog" -d "$STAGE/$name"
done
mkdir -p "$(dirname "$DEST")"
mv "$STAGE" "$DEST"  # atomic: DEST appears complete or not at all
echo "done: $(find "$DEST" -name '*.obj' | wc -l) OBJ models in $DEST"
