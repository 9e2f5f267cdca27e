"""Writing meshes: .glb and .obj in glTF's frame (asset_frame.py), .ply in the world frame, each file
atomically; a textured .obj with its material and texture beside it (mesh_files.py names them)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import trimesh

from img2gs.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from img2gs.errors import OutputError
from img2gs.splat.asset_frame import ASSET_FRAME_SUFFIXES, scaled_to_height, to_asset_frame
from img2gs.splat.gaussians import Gaussians
from img2gs.splat.mesh import MeshConfig, extract_mesh
from img2gs.splat.mesh_files import MESH_SUFFIXES, is_textured, mesh_files
from img2gs.splat.texture import obj_material, texture_image


def write_mesh(path: str | os.PathLike, gaussians: Gaussians, config: MeshConfig = MeshConfig(), *,
               backend: str = "auto", texture: bool = True, height: float | None = None) -> Path:
    """Extract the Gaussians' mesh and write it (and an .obj's texture files) to `path`."""
    return save_mesh(path, extract_mesh(gaussians, config, backend=backend, textured=is_textured(path, texture)),
                     height=height)


def save_mesh(path: str | os.PathLike, mesh: trimesh.Trimesh, height: float | None = None) -> Path:
    """Write `mesh` (world frame) as .glb, .obj (both in glTF's +Y-up frame: asset_frame.py) or .ply (world
    frame), by suffix, each file atomically (`mesh_files`: an .obj's texture and material first, so the
    .obj never names missing files); NaN/Inf vertices are refused. `height`: scale the object to this
    height (metres in glTF; None keeps the world's unit-sphere scale)."""
    path = Path(path)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise OutputError(f"{path}: unsupported mesh format (use one of {', '.join(MESH_SUFFIXES)})")
    if len(mesh.faces) == 0 or not np.isfinite(np.asarray(mesh.vertices)).all():
        raise OutputError(f"refusing to write {path}: the mesh is empty or contains NaN/Inf vertices")
    in_asset_frame = path.suffix.lower() in ASSET_FRAME_SUFFIXES
    if in_asset_frame:
        mesh = to_asset_frame(mesh)
    if height is not None:
        mesh = scaled_to_height(mesh, height, up_axis=1 if in_asset_frame else 2)
    image = texture_image(mesh)
    if image is not None and path.suffix.lower() == ".obj":
        _, mtl, png = mesh_files(path)
        mesh = mesh.copy()
        mesh.visual.material = obj_material(image, png.stem)
        text, sidecars = trimesh.exchange.obj.export_obj(mesh, return_texture=True, mtl_name=mtl.name)
        for target in (png, mtl):
            atomic_write_bytes(target, sidecars[target.name])
        atomic_write_text(path, text)
        return path
    with atomic_path(path) as tmp:
        mesh.export(str(tmp), file_type=path.suffix.lower()[1:])
    return path
