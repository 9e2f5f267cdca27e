"""The camera contract of img2gs. Every stage (data builder, view generator, splat fitter, evaluation)
uses these functions and constants, so generated views, fitted splats and metrics agree.

World frame
    Right-handed, **+Z up**. The object is centred at the origin and scaled into the **unit sphere**
    (bounding-sphere radius `OBJECT_RADIUS` = 1).

Orbit pose (elevation, azimuth, radius)
    Angles in degrees. The camera sits at
        position = radius * (cos(elev) cos(azim), cos(elev) sin(azim), sin(elev))
    and looks at the origin with world +Z as its up hint. Azimuth grows counter-clockwise seen from
    above (+X towards +Y). Elevation is clamped to (-89, 89) degrees where a pose is built, so the
    look-at frame is always defined.

Camera-to-world matrices (`c2w`, [..., 4, 4])
    OpenGL / nerfstudio / NeRF-synthetic convention: the camera looks along its own -Z, +Y is up in
    the image, +X is right. These are the `transform_matrix` values of `transforms.json`.

World-to-camera matrices (`viewmat`, [..., 4, 4])
    OpenCV convention (+Z forward, +Y down), as gsplat's `viewmats` expects:
        viewmat = inverse(c2w @ diag(1, -1, -1, 1)).

Intrinsics (`K`, [..., 3, 3])
    Pinhole, square pixels, from the horizontal field of view: fx = fy = (W / 2) / tan(fov / 2),
    principal point at the image centre (W / 2, H / 2). Pixel (col i, row j) covers [i, i + 1) x
    [j, j + 1); its centre is at (i + 0.5, j + 0.5) — gsplat's convention.

Framing rule of an input photo
    The input camera is at azimuth `INPUT_AZIMUTH_DEG` (0), elevation `DEFAULT_INPUT_ELEVATION_DEG`
    (20; `--elevation` overrides it), radius `ORBIT_RADIUS` (3.2), field of view `FOV_DEG` (40). After
    background removal the photo is recentred on the object's bounding box, which is scaled so that
    its longer side spans `INPUT_FILL` (0.8) of the square image side. At this radius and field of view
    the unit sphere itself spans ~0.90 of the image, so every view of a normalised object stays in
    frame.

Relative pose (Zero-1-to-3)
    From an input camera (e0, a0, r0) to a target camera (e1, a1, r1):
        [radians(e1 - e0), sin(radians(a1 - a0)), cos(radians(a1 - a0)), r1 - r0]
    A camera relative to itself encodes as (0, 0, 1, 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

OBJECT_RADIUS = 1.0
INPUT_AZIMUTH_DEG = 0.0
DEFAULT_INPUT_ELEVATION_DEG = 20.0
ORBIT_RADIUS = 3.2
FOV_DEG = 40.0
INPUT_FILL = 0.8
MAX_ABS_ELEVATION_DEG = 89.0
# Elevations of the target views that the view generator produces, alternating around the orbit.
TARGET_ELEVATIONS_DEG = (30.0, -10.0)

# Flips the camera's Y and Z axes: OpenGL camera frame <-> OpenCV camera frame.
_GL_TO_CV = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64))


@dataclass(frozen=True)
class OrbitPose:
    """A camera on the orbit around the origin. Angles in degrees."""

    elevation: float
    azimuth: float
    radius: float = ORBIT_RADIUS

    def c2w(self) -> Tensor:
        """[4, 4] float32 camera-to-world matrix (OpenGL convention)."""
        return orbit_to_c2w(torch.tensor(self.elevation), torch.tensor(self.azimuth), torch.tensor(self.radius))


def input_pose(elevation_deg: float | None = None) -> OrbitPose:
    """The pose assigned to a user's photo by the framing rule."""
    elev = DEFAULT_INPUT_ELEVATION_DEG if elevation_deg is None else float(elevation_deg)
    return OrbitPose(elevation=elev, azimuth=INPUT_AZIMUTH_DEG, radius=ORBIT_RADIUS)


def target_orbit(n_views: int, elevations_deg: tuple[float, ...] = TARGET_ELEVATIONS_DEG) -> list[OrbitPose]:
    """`n_views` poses evenly spaced in azimuth, half a step off the input azimuth, cycling through
    `elevations_deg`. Used as the default target set of the view generator."""
    if n_views < 1:
        raise ValueError(f"n_views must be >= 1, got {n_views}")
    step = 360.0 / n_views
    return [
        OrbitPose(elevation=elevations_deg[k % len(elevations_deg)], azimuth=(k + 0.5) * step, radius=ORBIT_RADIUS)
        for k in range(n_views)
    ]


def orbit_position(elevation: Tensor, azimuth: Tensor, radius: Tensor) -> Tensor:
    """Camera centres [..., 3] from orbit parameters [...] (degrees)."""
    e, a = torch.deg2rad(elevation), torch.deg2rad(azimuth)
    return torch.stack([torch.cos(e) * torch.cos(a), torch.cos(e) * torch.sin(a), torch.sin(e)], -1) * radius[..., None]


def look_at(eye: Tensor, target: Tensor | None = None, up: Tensor | None = None) -> Tensor:
    """OpenGL camera-to-world [..., 4, 4] for cameras at `eye` [..., 3] looking at `target` [3].

    The camera's +Z points from the target to the eye (it looks along -Z); +X = up x Z.
    """
    target = torch.zeros(3, dtype=eye.dtype, device=eye.device) if target is None else target.to(eye)
    up = torch.tensor([0.0, 0.0, 1.0], dtype=eye.dtype, device=eye.device) if up is None else up.to(eye)
    z = torch.nn.functional.normalize(eye - target, dim=-1)
    x = torch.nn.functional.normalize(torch.linalg.cross(up.expand_as(z), z, dim=-1), dim=-1)
    y = torch.linalg.cross(z, x, dim=-1)
    c2w = torch.zeros(*eye.shape[:-1], 4, 4, dtype=eye.dtype, device=eye.device)
    c2w[..., :3, 0], c2w[..., :3, 1], c2w[..., :3, 2], c2w[..., :3, 3] = x, y, z, eye
    c2w[..., 3, 3] = 1.0
    return c2w


def orbit_to_c2w(elevation: Tensor, azimuth: Tensor, radius: Tensor) -> Tensor:
    """Camera-to-world [..., 4, 4] (OpenGL) from orbit parameters [...] in degrees."""
    elevation = torch.as_tensor(elevation, dtype=torch.get_default_dtype())
    azimuth, radius = torch.as_tensor(azimuth).to(elevation), torch.as_tensor(radius).to(elevation)
    elevation = elevation.clamp(-MAX_ABS_ELEVATION_DEG, MAX_ABS_ELEVATION_DEG)
    return look_at(orbit_position(elevation, azimuth, radius))


def c2w_to_orbit(c2w: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(elevation, azimuth, radius) [...] from camera-to-world [..., 4, 4]; azimuth in (-180, 180].

    Reads only the camera centre, so it inverts `orbit_to_c2w` for cameras that look at the origin.
    """
    t = c2w[..., :3, 3]
    radius = t.norm(dim=-1)
    elevation = torch.rad2deg(torch.asin((t[..., 2] / radius).clamp(-1.0, 1.0)))
    azimuth = torch.rad2deg(torch.atan2(t[..., 1], t[..., 0]))
    return elevation, azimuth, radius


def intrinsics_from_fov(fov_deg: float, width: int, height: int) -> Tensor:
    """[3, 3] pinhole intrinsics, horizontal field of view `fov_deg`, square pixels, centred."""
    f = 0.5 * width / math.tan(math.radians(fov_deg) / 2.0)
    return torch.tensor([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def fov_from_intrinsics(K: Tensor, width: int) -> float:
    """Horizontal field of view in degrees of intrinsics [3, 3]."""
    return math.degrees(2.0 * math.atan(0.5 * width / float(K[0, 0])))


def viewmat_from_c2w(c2w: Tensor) -> Tensor:
    """World-to-camera [..., 4, 4] in OpenCV convention (gsplat's `viewmats`) from OpenGL c2w."""
    return torch.linalg.inv(c2w @ _GL_TO_CV.to(c2w))


def c2w_from_viewmat(viewmat: Tensor) -> Tensor:
    """Inverse of `viewmat_from_c2w`."""
    return torch.linalg.inv(viewmat) @ _GL_TO_CV.to(viewmat)


def project_points(points: Tensor, viewmat: Tensor, K: Tensor) -> tuple[Tensor, Tensor]:
    """Project world points [..., P, 3] with viewmat [..., 4, 4] and K [..., 3, 3].

    Returns pixel coordinates [..., P, 2] (u right, v down; pixel centres at +0.5) and camera-space
    depth [..., P] (positive in front of the camera).
    """
    cam = points @ viewmat[..., :3, :3].transpose(-1, -2) + viewmat[..., None, :3, 3]
    depth = cam[..., 2]
    uv = cam[..., :2] / depth[..., None]
    uv = uv @ K[..., :2, :2].transpose(-1, -2) + K[..., None, :2, 2]
    return uv, depth


def points_in_masks(points: Tensor, masks: Tensor, c2w: Tensor, K: Tensor) -> tuple[Tensor, Tensor]:
    """World points [N, 3] looked up in per-view masks [V, H, W] bool seen by cameras c2w [V, 4, 4]
    (OpenGL) and K [V, 3, 3]: (seen [V, N] — in front of the camera and inside its image, inside [V, N] —
    seen, and on a True pixel of the view's mask)."""
    v, h, w = masks.shape
    uv, depth = project_points(points[None].expand(v, -1, -1).float(), viewmat_from_c2w(c2w.float()),
                               K.float())  # [V, N, 2], [V, N]
    col, row = uv[..., 0].floor().long(), uv[..., 1].floor().long()
    seen = (depth > 0) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    pixel = row.clamp(0, h - 1) * w + col.clamp(0, w - 1)  # [V, N]
    return seen, seen & masks.reshape(v, -1).gather(1, pixel)


def relative_pose_encoding(source: Tensor, target: Tensor) -> Tensor:
    """Zero-1-to-3 relative pose [..., 4] from source and target (elevation, azimuth, radius) [..., 3].

    Encoding: [radians(d_elev), sin(radians(d_azim)), cos(radians(d_azim)), d_radius].
    """
    d = target - source
    d_elev, d_azim = torch.deg2rad(d[..., 0]), torch.deg2rad(d[..., 1])
    return torch.stack([d_elev, torch.sin(d_azim), torch.cos(d_azim), d[..., 2]], dim=-1)


def poses_tensor(poses: list[OrbitPose]) -> Tensor:
    """[N, 3] (elevation, azimuth, radius) from a list of OrbitPose."""
    return torch.tensor([[p.elevation, p.azimuth, p.radius] for p in poses], dtype=torch.float32)


def poses_c2w(poses: list[OrbitPose]) -> Tensor:
    """[N, 4, 4] OpenGL camera-to-world matrices of a list of OrbitPose."""
    p = poses_tensor(poses)
    return orbit_to_c2w(p[:, 0], p[:, 1], p[:, 2])
