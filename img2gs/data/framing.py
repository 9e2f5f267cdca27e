"""Normalisation and framing of a training object: the contract between the data builder, the view
generator and the product's photo preprocessing.

1. `unit_sphere_transform`: centre the object on its minimum bounding sphere and scale that sphere
   to radius 1 (img2gs.cameras.OBJECT_RADIUS).
2. `frame_for_input_view`: scale and move the object so that, seen from the INPUT camera, the
   bounding box of its silhouette is centred in the image and its longer side is `fill` (0.8, the
   same rule the product applies to users' photos) of the image side. The silhouette's box equals
   the box of the projected convex-hull vertices, so this is computed exactly (to 1e-4 px) by a few
   fixed-point steps on those vertices, without rendering.
3. Clamp: if the framed object would reach further than `max_radius` from the origin (an object
   seen end-on, e.g. a rod pointing at the camera), the largest fill <= `fill` that stays within
   `max_radius` is used instead (found by bisection) and the result is marked `clamped`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import trimesh

from img2gs.cameras import viewmat_from_c2w

_MAX_STEPS = 60
_MAX_SCALE = 20.0


@dataclass(frozen=True)
class Framing:
    matrix: np.ndarray  # [4, 4] similarity: uniform scale then translation, applied to the object
    fill: float  # longer side of the projected bounding box / image side actually achieved
    clamped: bool  # True when `fill` had to be lowered to respect `max_radius`
    radius: float  # farthest distance of the framed object from the origin


def hull_points(vertices: np.ndarray) -> np.ndarray:
    """[H, 3] convex-hull vertices of a point set (the points themselves if the hull is degenerate)."""
    try:
        return np.asarray(trimesh.convex.convex_hull(vertices).vertices)
    except Exception:  # qhull fails on flat or tiny sets; every point is then used  # noqa: BLE001
        return np.asarray(vertices)


def unit_sphere_transform(points: np.ndarray) -> np.ndarray:
    """[4, 4] that maps the minimum bounding sphere of `points` [P, 3] onto the unit sphere (for flat
    point sets, where qhull fails, the sphere around the bounding-box centre)."""
    try:
        centre, radius = trimesh.nsphere.minimum_nsphere(points)
    except Exception:  # qhull needs a full-dimensional point set; fall back to the box centre  # noqa: BLE001
        centre = 0.5 * (points.min(0) + points.max(0))
        radius = np.linalg.norm(points - centre, axis=-1).max()
    radius = max(float(radius), 1e-12)
    matrix = np.eye(4)
    matrix[:3, :3] /= radius
    matrix[:3, 3] = -np.asarray(centre) / radius
    return matrix


def frame_for_input_view(
    points: np.ndarray,  # [P, 3] world points of the normalised object (its convex hull suffices)
    c2w: np.ndarray,  # [4, 4] input camera, OpenGL convention
    K: np.ndarray,  # [3, 3]
    image_size: int,
    fill: float,
    max_radius: float,
) -> Framing:
    """The similarity that frames `points` for the input camera (see the module docstring)."""
    viewmat = viewmat_from_c2w(torch.as_tensor(np.asarray(c2w, dtype=np.float64))).numpy()
    scale, shift = _solve(points, viewmat, K, image_size, fill)
    radius = _radius(points, scale, shift)
    clamped = radius > max_radius
    achieved = fill
    if clamped:
        lo, hi = 0.0, fill
        for _ in range(20):  # fill to 1e-6
            mid = 0.5 * (lo + hi)
            s, t = _solve(points, viewmat, K, image_size, mid)
            if _radius(points, s, t) <= max_radius:
                lo, scale, shift = mid, s, t
            else:
                hi = mid
        achieved = lo
        radius = _radius(points, scale, shift)
    matrix = np.eye(4)
    matrix[:3, :3] *= scale
    matrix[:3, 3] = shift
    return Framing(matrix=matrix, fill=float(achieved), clamped=bool(clamped), radius=float(radius))


def projected_box(points: np.ndarray, viewmat: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(min uv [2], max uv [2]) of points [P, 3] projected with an OpenCV viewmat [4, 4] and K [3, 3]."""
    cam = points @ viewmat[:3, :3].T + viewmat[:3, 3]
    uv = cam[:, :2] / cam[:, 2:3] @ K[:2, :2].T + K[:2, 2]
    return uv.min(0), uv.max(0)


def _solve(points, viewmat, K, image_size, fill) -> tuple[float, np.ndarray]:
    """Fixed-point iteration for (scale s, shift t) so that s * points + t is framed with `fill`."""
    target = fill * image_size
    centre = np.array([image_size / 2.0, image_size / 2.0])
    rotation = viewmat[:3, :3]
    scale, shift = 1.0, np.zeros(3)
    for _ in range(_MAX_STEPS):
        lo, hi = projected_box(points * scale + shift, viewmat, K)
        size, error = (hi - lo).max(), (lo + hi) / 2.0 - centre
        ratio = target / max(size, 1e-9)
        if np.abs(error).max() < 1e-4 and abs(ratio - 1.0) < 1e-6:
            break
        depth = (rotation @ shift + viewmat[:3, 3])[2]  # camera z of the object's reference point
        shift = shift - rotation.T @ np.array([error[0] * depth / K[0, 0], error[1] * depth / K[1, 1], 0.0])
        scale = min(scale * float(np.clip(ratio, 0.25, 4.0)), _MAX_SCALE)
    return scale, shift


def _radius(points: np.ndarray, scale: float, shift: np.ndarray) -> float:
    return float(np.linalg.norm(points * scale + shift, axis=-1).max())

