"""Which files a mesh output writes: by its suffix, and whether it is textured (no heavy imports: the CLI
and the output checks use this before the pipeline loads)."""

from __future__ import annotations

import os
from pathlib import Path

MESH_SUFFIXES = (".glb", ".obj", ".ply")
TEXTURED_SUFFIXES = (".glb", ".obj")


def is_textured(path: str | os.PathLike, texture: bool = True) -> bool:
    """Whether the mesh written to `path` carries a baked texture: .glb and .obj unless `texture` is off;
    a .ply mesh keeps vertex colours (its readers rarely take textures)."""
    return texture and Path(path).suffix.lower() in TEXTURED_SUFFIXES


def mesh_files(path: str | os.PathLike, texture: bool = True) -> list[Path]:
    """Every file that writing a mesh to `path` creates: the mesh, and for a textured .obj its material
    and texture beside it, named from its stem (<stem>.mtl, <stem>_texture.png: never trimesh's fixed
    material.mtl / material_0.png, which collide in a batch, and never <stem>.png, the usual name of
    the user's own photo)."""
    path = Path(path)
    if is_textured(path, texture) and path.suffix.lower() == ".obj":
        return [path, path.with_suffix(".mtl"), path.with_name(f"{path.stem}_texture.png")]
    return [path]
