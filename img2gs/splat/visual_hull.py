"""The visual hull of posed views, and the Gaussians that `fit` starts from without a proxy.

`carve_visual_hull` carves a voxel grid by the alpha masks of posed views; `from_visual_hull` samples
points on the hull's surface and colours them from the views that see them (`colors_from_views`, with
the hull's own z-buffer for occlusion).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from img2gs.cameras import points_in_masks, project_points, viewmat_from_c2w
from img2gs.errors import DataFormatError
from img2gs.splat.gaussians import Gaussians
from img2gs.splat.tsdf import voxel_centers


@dataclass(frozen=True)
class VisualHull:
    """A voxel grid carved by silhouettes: `occupied` [R, R, R] bool over the cube [-extent, extent]^3."""

    occupied: Tensor  # [R, R, R] bool, indexed (x, y, z)
    extent: float

    @property
    def resolution(self) -> int:
        return self.occupied.shape[0]

    @property
    def voxel_size(self) -> float:
        return 2.0 * self.extent / self.resolution

    def voxel_centers(self, index: Tensor) -> Tensor:  # [M, 3] long -> [M, 3] float
        return (index.float() + 0.5) * self.voxel_size - self.extent

    def surface_voxels(self) -> Tensor:
        """Indices [M, 3] of occupied voxels with at least one empty 6-neighbour (or on the grid border)."""
        occ = self.occupied
        p = F.pad(occ[None, None].float(), (1, 1, 1, 1, 1, 1))[0, 0] > 0  # [R+2]^3, empty border
        c = slice(1, -1)
        neighbours = (p[2:, c, c], p[:-2, c, c], p[c, 2:, c], p[c, :-2, c], p[c, c, 2:], p[c, c, :-2])
        interior = torch.stack(neighbours).all(dim=0)
        return torch.nonzero(occ & ~interior)


def carve_visual_hull(
    alphas: Tensor,  # [V, H, W] in [0, 1]
    c2w: Tensor,  # [V, 4, 4] OpenGL
    K: Tensor,  # [V, 3, 3]
    resolution: int = 64,
    extent: float = 1.05,
    alpha_threshold: float = 0.5,
    min_agreement: float = 1.0,
) -> VisualHull:
    """Carve a voxel grid by the views' silhouettes.

    A voxel centre survives if it falls inside the silhouette (alpha > `alpha_threshold`) of at least
    `min_agreement` of the views that see it inside their image; views that see it outside their image
    neither keep nor carve it. `min_agreement` < 1 tolerates slightly inconsistent (generated) views.
    """
    if alphas.ndim != 3 or c2w.shape != (alphas.shape[0], 4, 4) or K.shape != (alphas.shape[0], 3, 3):
        raise ValueError("alphas [V, H, W], c2w [V, 4, 4] and K [V, 3, 3] must agree")
    r = resolution
    centers = voxel_centers(r, extent).reshape(-1, 3)  # [R^3, 3]
    in_image, inside = points_in_masks(centers, alphas.float() > alpha_threshold, c2w, K)  # [V, R^3] each
    seen_votes, inside_votes = in_image.sum(dim=0).float(), inside.sum(dim=0).float()  # [R^3]
    keep = (seen_votes > 0) & (inside_votes >= min_agreement * seen_votes - 1e-6)
    return VisualHull(occupied=keep.reshape(r, r, r), extent=extent)


def sample_hull_surface(hull: VisualHull, n: int, generator: torch.Generator | None = None) -> Tensor:
    """`n` points [n, 3] jittered uniformly inside randomly chosen surface voxels of the hull."""
    surface = hull.surface_voxels()
    if surface.shape[0] == 0:
        raise DataFormatError("the views' alpha masks share no region (empty visual hull): are the images "
                              "transparent, or the cameras wrong?")
    pick = torch.randint(0, surface.shape[0], (n,), generator=generator)
    jitter = torch.rand(n, 3, generator=generator) - 0.5
    return hull.voxel_centers(surface[pick]) + jitter * hull.voxel_size


def hull_depth_map(
    hull: VisualHull,
    viewmat: Tensor,  # [4, 4] OpenCV world-to-camera
    K: Tensor,  # [3, 3]
    height: int,
    width: int,
) -> Tensor:
    """Depth [H, W] of the hull's nearest surface voxel per pixel (inf where none): a z-buffer of the
    surface voxel centres, each splatted over the square of pixels its voxel covers (no holes)."""
    centers = hull.voxel_centers(hull.surface_voxels())  # [M, 3]
    uv, depth = project_points(centers, viewmat, K)
    front = depth > 1e-3
    uv, depth = uv[front], depth[front]
    radius = int(math.ceil(0.5 * hull.voxel_size * float(K[0, 0]) / float(depth.min()))) if len(depth) else 0
    zbuf = torch.full((height * width,), float("inf"))
    col0, row0 = uv[:, 0].floor().long(), uv[:, 1].floor().long()
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            col, row = col0 + dc, row0 + dr
            ok = (col >= 0) & (col < width) & (row >= 0) & (row < height)
            zbuf.scatter_reduce_(0, (row * width + col)[ok], depth[ok], reduce="amin")
    return zbuf.reshape(height, width)


def colors_from_views(
    points: Tensor,  # [P, 3]
    images: Tensor,  # [V, H, W, 4] straight alpha
    c2w: Tensor,  # [V, 4, 4]
    K: Tensor,  # [V, 3, 3]
    hull: VisualHull,
) -> Tensor:
    """Colour [P, 3] of each point: the alpha-weighted mean over the views in which it is not behind
    the hull's surface (`hull_depth_map`, tolerance 1.5 voxels). Points that no view sees get the
    mean colour of the seen ones."""
    viewmats = viewmat_from_c2w(c2w.float())
    v_count, h, w = images.shape[:3]
    total = torch.zeros(points.shape[0], 3)
    weight = torch.zeros(points.shape[0])
    for v in range(v_count):
        uv, depth = project_points(points, viewmats[v], K[v].float())
        col, row = uv[:, 0].floor().long(), uv[:, 1].floor().long()
        ok = (depth > 0) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
        col, row = col.clamp(0, w - 1), row.clamp(0, h - 1)
        zbuf = hull_depth_map(hull, viewmats[v], K[v].float(), h, w)
        ok &= depth <= zbuf[row, col] + 1.5 * hull.voxel_size
        pixel = images[v][row[ok], col[ok]].float()  # [M, 4]
        total[ok] += pixel[:, :3] * pixel[:, 3:]
        weight[ok] += pixel[:, 3]
    seen = weight > 1e-3
    colors = torch.empty(points.shape[0], 3)
    colors[seen] = total[seen] / weight[seen, None]
    colors[~seen] = colors[seen].mean(dim=0) if seen.any() else 0.5
    return colors


def from_visual_hull(
    images: Tensor,  # [V, H, W, 4] straight-alpha RGBA
    c2w: Tensor,  # [V, 4, 4] OpenGL
    K: Tensor,  # [V, 3, 3]
    n_points: int = 10_000,
    resolution: int = 64,
    sh_degree: int = 3,
    init_opacity: float = 0.1,
    min_agreement: float = 1.0,
    generator: torch.Generator | None = None,
) -> Gaussians:
    """Gaussians on the surface of the views' visual hull, coloured from the views that see them."""
    if images.ndim != 4 or images.shape[-1] != 4:
        raise ValueError(f"images must be RGBA [V, H, W, 4], got {tuple(images.shape)}")
    images = images.detach().cpu().float()
    hull = carve_visual_hull(images[..., 3], c2w.cpu(), K.cpu(), resolution=resolution, min_agreement=min_agreement)
    points = sample_hull_surface(hull, n_points, generator=generator)
    colors = colors_from_views(points, images, c2w.cpu(), K.cpu(), hull)
    return Gaussians.from_points(points, colors, sh_degree, init_opacity, generator=generator)
