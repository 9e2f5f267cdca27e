"""The Gaussians of a scene: raw (unconstrained) parameters, their activations, and initialisations.

Parameters are stored raw, as in 3DGS / gsplat, so the optimiser works on unconstrained values:

    means      [N, 3]        world positions
    scales     [N, 3]        log of the per-axis standard deviations      (activation: exp)
    quats      [N, 4]        rotation quaternion w, x, y, z, unnormalised (activation: normalise)
    opacities  [N]           logit of the opacity                        (activation: sigmoid)
    sh0        [N, 1, 3]     degree-0 spherical-harmonics coefficients (colour = 0.5 + SH_C0 * sh0)
    shN        [N, K-1, 3]   higher SH bands, K = (sh_degree + 1) ** 2

`Gaussians.params` is a plain dict of tensors (gsplat's "splats"); densification (strategy.py) replaces
its entries, so never hold on to one parameter tensor across a densification step.

Initialisations: `from_points` (given points and colours), `random_in_sphere`, and `from_visual_hull`
(carve a voxel grid by the alpha masks of posed views, sample points on the hull's surface and colour
them from the views that see them) -- the latter is what `fit` and the product pipeline start from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree
from torch import Tensor

from img2gs.cameras import points_in_masks, project_points, viewmat_from_c2w
from img2gs.errors import DataFormatError

SH_C0 = 0.28209479177387814  # 1 / (2 sqrt(pi)), the degree-0 SH basis constant
PARAM_NAMES = ("means", "scales", "quats", "opacities", "sh0", "shN")


def num_sh_bases(sh_degree: int) -> int:
    return (sh_degree + 1) ** 2


def rgb_to_sh0(rgb: Tensor) -> Tensor:
    """Degree-0 SH coefficients [..., 3] whose colour is `rgb` [..., 3]."""
    return (rgb - 0.5) / SH_C0


def sh0_to_rgb(sh0: Tensor) -> Tensor:
    return sh0 * SH_C0 + 0.5


@dataclass
class Gaussians:
    """A set of 3D Gaussians; see the module docstring for the parameters and their activations."""

    params: dict[str, Tensor]

    def __post_init__(self) -> None:
        missing = [k for k in PARAM_NAMES if k not in self.params]
        if missing:
            raise ValueError(f"Gaussians need parameters {PARAM_NAMES}, missing {missing}")
        n = self.params["means"].shape[0]
        expected = {"means": (n, 3), "scales": (n, 3), "quats": (n, 4), "opacities": (n,)}
        for name, shape in expected.items():
            if tuple(self.params[name].shape) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {tuple(self.params[name].shape)}")
        if self.params["sh0"].shape != (n, 1, 3) or self.params["shN"].ndim != 3 or self.params["shN"].shape[0] != n:
            raise ValueError("sh0 must be [N, 1, 3] and shN [N, K-1, 3]")
        k = self.params["shN"].shape[1] + 1
        if math.isqrt(k) ** 2 != k:
            raise ValueError(f"shN has {k - 1} bands; (sh_degree + 1)^2 - 1 expected")

    # --- sizes -------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.params["means"].shape[0]

    @property
    def sh_degree(self) -> int:
        return math.isqrt(self.params["shN"].shape[1] + 1) - 1

    @property
    def device(self) -> torch.device:
        return self.params["means"].device

    # --- activated values --------------------------------------------------------------------------
    @property
    def means(self) -> Tensor:  # [N, 3]
        return self.params["means"]

    @property
    def scales(self) -> Tensor:  # [N, 3]
        return torch.exp(self.params["scales"])

    @property
    def quats(self) -> Tensor:  # [N, 4] unit quaternions, wxyz
        return F.normalize(self.params["quats"], dim=-1)

    @property
    def opacities(self) -> Tensor:  # [N]
        return torch.sigmoid(self.params["opacities"])

    @property
    def sh(self) -> Tensor:  # [N, K, 3]
        return torch.cat([self.params["sh0"], self.params["shN"]], dim=1)

    @property
    def base_colors(self) -> Tensor:  # [N, 3] view-independent colour (degree 0 only), clipped to [0, 1]
        return sh0_to_rgb(self.params["sh0"][:, 0]).clamp(0.0, 1.0)

    # --- copies ------------------------------------------------------------------------------------
    def detached(self) -> "Gaussians":
        """A copy of plain tensors (no autograd), e.g. to export or to keep the best state."""
        return Gaussians({k: v.detach().clone() for k, v in self.params.items()})

    def to(self, device: torch.device | str) -> "Gaussians":
        return Gaussians({k: v.to(device) for k, v in self.params.items()})

    def subset(self, keep: Tensor) -> "Gaussians":
        """The Gaussians where `keep` [N] bool is True (detached copies)."""
        return Gaussians({k: v.detach()[keep].clone() for k, v in self.params.items()})

    def trainable(self) -> "Gaussians":
        """A copy whose parameters are leaf `torch.nn.Parameter`s, ready for an optimiser."""
        return Gaussians({k: torch.nn.Parameter(v.detach().clone()) for k, v in self.params.items()})

    def with_sh_degree(self, sh_degree: int) -> "Gaussians":
        """The same Gaussians with `sh_degree` SH bands: higher bands added as zeros or dropped."""
        k = num_sh_bases(sh_degree) - 1
        sh_n = self.params["shN"][:, :k]
        if sh_n.shape[1] < k:
            pad = sh_n.new_zeros(sh_n.shape[0], k - sh_n.shape[1], 3)
            sh_n = torch.cat([sh_n, pad], dim=1)
        return Gaussians({**self.params, "shN": sh_n})

    def is_finite(self) -> bool:
        return all(bool(torch.isfinite(v).all()) for v in self.params.values())

    # --- constructors ------------------------------------------------------------------------------
    @classmethod
    def from_points(
        cls,
        points: Tensor,  # [N, 3]
        colors: Tensor,  # [N, 3] in [0, 1]
        sh_degree: int = 3,
        init_opacity: float = 0.1,
        init_scale: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> "Gaussians":
        """Isotropic Gaussians at `points`, sized `init_scale` x the mean distance to their 3 nearest
        neighbours (as 3DGS / gsplat), random rotations, opacity `init_opacity`, DC colour `colors`."""
        if points.ndim != 2 or points.shape[-1] != 3 or colors.shape != points.shape:
            raise ValueError(f"points and colors must be [N, 3], got {tuple(points.shape)}, {tuple(colors.shape)}")
        if points.shape[0] < 2:
            raise ValueError("need at least 2 points to initialise Gaussians")
        n = points.shape[0]
        points = points.float()
        dist = _mean_neighbour_distance(points, k=3).clamp_min(1e-4)  # [N]
        quats = torch.randn(n, 4, generator=generator, dtype=torch.float32).to(points.device)
        params = {
            "means": points.clone(),
            "scales": torch.log(dist * init_scale)[:, None].repeat(1, 3),
            "quats": F.normalize(quats, dim=-1),
            "opacities": torch.full((n,), _logit(init_opacity), device=points.device),
            "sh0": rgb_to_sh0(colors.float().clamp(0.0, 1.0))[:, None, :],
            "shN": torch.zeros(n, num_sh_bases(sh_degree) - 1, 3, device=points.device),
        }
        return cls(params)

    @classmethod
    def random_in_sphere(
        cls, n: int, radius: float = 1.0, sh_degree: int = 3, init_opacity: float = 0.1,
        generator: torch.Generator | None = None,
    ) -> "Gaussians":
        """`n` Gaussians uniformly distributed in a ball of `radius`, random colours."""
        direction = F.normalize(torch.randn(n, 3, generator=generator), dim=-1)
        r = radius * torch.rand(n, 1, generator=generator) ** (1.0 / 3.0)
        colors = torch.rand(n, 3, generator=generator)
        return cls.from_points(direction * r, colors, sh_degree, init_opacity, generator=generator)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _mean_neighbour_distance(points: Tensor, k: int = 3) -> Tensor:
    """Mean distance [N] from each point to its `k` nearest other points (scipy KD-tree)."""
    pts = points.detach().cpu().numpy().astype(np.float64)
    k_eff = min(k + 1, len(pts))
    dist, _ = cKDTree(pts).query(pts, k=k_eff)
    return torch.from_numpy(dist[:, 1:].mean(axis=1)).float().to(points.device)


# --- visual hull -----------------------------------------------------------------------------------
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
    axis = (torch.arange(r, dtype=torch.float32) + 0.5) * (2.0 * extent / r) - extent
    centers = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(-1, 3)  # [R^3, 3]
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


def quat_to_rotmat(quats: Tensor) -> Tensor:
    """Rotation matrices [..., 3, 3] of quaternions [..., 4] (w, x, y, z; normalised here)."""
    w, x, y, z = F.normalize(quats, dim=-1).unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]
    return torch.stack(rows, dim=-1).reshape(*quats.shape[:-1], 3, 3)
