"""The frame of exported mesh assets: glTF's for `.glb` and `.obj`, the world's for `.ply`.

The world (README, camera contract) is +Z up with the photo taken from +X (azimuth 0). glTF is +Y up by
specification, with an asset's front facing +Z (the frame Blender, three.js and every glTF viewer
assume; Blender's OBJ importer assumes it too). The change is the rotation

    (x, y, z)_world  ->  (y, z, x)_asset          up +Z -> +Y,  the photo's side +X -> +Z,  +Y -> +X

(a cyclic permutation of the axes: a rotation, not a mirror, so faces keep their winding), followed by
a translation that stands the object on y = 0 (its lowest vertex); x and z stay the world's (the object's
centre is above the origin). Units stay the world's by default: the object fits the unit sphere, so its
longest extent is at most 2 units (glTF reads them as metres: a photographed mug comes in about 1.5 m
tall). `scaled_to_height` (`--height METRES`) scales a mesh uniformly so that its height, along the up
axis, is what the user says the object measures. `.ply` meshes and splat files stay in the world frame (+Z up, like Blender's own frame and
the 3DGS tools, whose viewers let the user pick the up axis).
"""

from __future__ import annotations

import numpy as np
import trimesh

WORLD_TO_ASSET = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])  # rows: asset x, y, z in world axes
ASSET_FRAME_SUFFIXES = (".glb", ".obj")  # written in the glTF frame; others stay in the world frame


def to_asset_frame(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy of `mesh` (world frame) in the glTF asset frame, standing on y = 0."""
    out = mesh.copy()
    transform = np.eye(4)
    transform[:3, :3] = WORLD_TO_ASSET
    out.apply_transform(transform)
    out.apply_translation([0.0, -float(out.vertices[:, 1].min()), 0.0])
    return out


def scaled_to_height(mesh: trimesh.Trimesh, height: float, up_axis: int) -> trimesh.Trimesh:
    """A copy of `mesh` scaled uniformly about the origin so that its extent along `up_axis` (1 in the
    asset frame, 2 in the world frame) is `height`; an object standing on y = 0 stays on it."""
    if not (np.isfinite(height) and height > 0.0):
        raise ValueError(f"height must be a positive number, got {height}")
    extent = float(np.ptp(np.asarray(mesh.vertices)[:, up_axis]))
    if extent <= 0.0:
        raise ValueError("the mesh is flat along its up axis: it has no height to scale")
    out = mesh.copy()
    out.apply_scale(height / extent)
    return out
