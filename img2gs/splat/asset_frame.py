"""The frame of exported mesh assets: glTF's for `.glb` and `.obj`, the world's for `.ply`.

The world (README, camera contract) is +Z up with the photo taken from +X (azimuth 0). glTF is +Y up by
specification, with an asset's front facing +Z (the frame Blender, three.js and every glTF viewer
assume; Blender's OBJ importer assumes it too). The change is the rotation

    (x, y, z)_world  ->  (y, z, x)_asset          up +Z -> +Y,  the photo's side +X -> +Z,  +Y -> +X

(a cyclic permutation of the axes: a rotation, not a mirror, so faces keep their winding), followed by
a translation that stands the object on y = 0 (its lowest vertex); x and z stay the world's (the object's
centre is above the origin). Units stay the world's: the object fits the unit sphere, so its longest extent is at
most 2 units. `.ply` meshes and splat files stay in the world frame (+Z up, like Blender's own frame and
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
