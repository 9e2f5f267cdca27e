"""Two-layer depth of a mesh seen by a camera: the first and the last surface along each pixel's ray.

The shape stage (img2gs.shape) learns to predict these two layers from a photo: the FRONT layer is
what the photo shows, the BACK layer is where the ray leaves the object, so together they bound the
object's volume along every ray of the photo (exactly so for an object that each ray enters and
leaves once; for a mug's hollow or a chair's legs, the back layer is the outermost exit).

Both layers are camera-space z (planar depth, not distance along the ray) at the pixel CENTRES
(no supersampling: a depth map is not averaged across an edge), 0 where the ray misses the mesh.
`depth_layers` uses the numba z-buffer twice (nearest and farthest hit);
`depth_layers_reference` is its pure-torch twin (brute force over all pixels and triangles).
"""

from __future__ import annotations

import numpy as np
import torch
import trimesh
from torch import Tensor

from img2gs.mesh_render import _rasterize_torch
from img2gs.mesh_render.mesh_renderer import _check_cameras, project_vertices
from img2gs.mesh_render.rasterize import rasterize
from img2gs.mesh_render.surface import RenderSurface, prepare_surface


def depth_layers(
    mesh: trimesh.Trimesh | trimesh.Scene | RenderSurface,
    c2w: Tensor,  # [N, 4, 4] camera-to-world, OpenGL convention (img2gs.cameras)
    K: Tensor,  # [3, 3] or [N, 3, 3]
    width: int,
    height: int,
) -> tuple[Tensor, Tensor]:
    """(front [N, H, W], back [N, H, W]) float32 camera z of the first / last hit, 0 = miss."""
    c2w, K = _check_cameras(c2w, K)
    surface = prepare_surface(mesh)
    screen = project_vertices(surface.vertices, c2w, K)
    _, _, front = rasterize(screen, surface.faces, height, width)
    _, _, back = rasterize(screen, surface.faces, height, width, farthest=True)
    return torch.from_numpy(front), torch.from_numpy(back)


def depth_layers_reference(
    mesh: trimesh.Trimesh | trimesh.Scene | RenderSurface, c2w: Tensor, K: Tensor, width: int, height: int
) -> tuple[Tensor, Tensor]:
    """The same as `depth_layers`, with the pure-torch rasterizer (float64, slow)."""
    c2w, K = _check_cameras(c2w, K)
    surface = prepare_surface(mesh)
    screen = torch.from_numpy(np.asarray(project_vertices(surface.vertices, c2w, K)))
    faces = torch.from_numpy(surface.faces.astype(np.int64))
    _, _, front = _rasterize_torch.rasterize(screen, faces, height, width)
    _, _, back = _rasterize_torch.rasterize(screen, faces, height, width, farthest=True)
    return front.float(), back.float()
