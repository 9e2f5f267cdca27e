"""Primitive parts of procedural objects and how they are painted.

Every builder returns a `trimesh.Trimesh` in its local frame, symmetry axis along +Z and centred at
the origin; `paint` gives it a solid colour, a vertex-colour gradient along its axis, or a generated
texture with cylindrical (sides) / planar (caps) texture coordinates. Objects are made by painting
parts in their local frame and then moving them into place (`place`), so patterns follow the parts.
"""

from __future__ import annotations

import numpy as np
import trimesh
from PIL import Image

from img2gs.data.patterns import contrasting_color, random_color, random_texture

SECTIONS = 32  # segments around revolved parts: smooth at 128 px, a few thousand triangles per object


def box(extents) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=extents)


def cylinder(radius: float, height: float, sections: int = SECTIONS) -> trimesh.Trimesh:
    return trimesh.creation.cylinder(radius=radius, height=height, sections=sections)


def revolved(profile, sections: int = SECTIONS) -> trimesh.Trimesh:
    """Surface of revolution of a (radius, z) polyline about +Z, centred on its z range.
    A profile that starts and ends at radius 0 is closed; otherwise the surface is open (rendered
    two-sided), e.g. a lamp shade or the inside of a mug."""
    profile = np.asarray(profile, dtype=np.float64)
    mesh = trimesh.creation.revolve(profile, sections=sections)
    mesh.apply_translation([0.0, 0.0, -0.5 * (profile[:, 1].min() + profile[:, 1].max())])
    return mesh


def frustum(r_bottom: float, r_top: float, height: float, sections: int = SECTIONS) -> trimesh.Trimesh:
    return revolved([[0.0, 0.0], [r_bottom, 0.0], [r_top, height], [0.0, height]], sections)


def sphere(radius: float, subdivisions: int = 2) -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)


def ellipsoid(radii) -> trimesh.Trimesh:
    mesh = sphere(1.0)
    mesh.apply_scale(radii)
    return mesh


def capsule(radius: float, height: float) -> trimesh.Trimesh:
    """Total length `height + 2 * radius` along Z."""
    return trimesh.creation.capsule(height=height, radius=radius, count=[SECTIONS, SECTIONS // 2])


def torus(major: float, minor: float, arc_deg: float = 360.0) -> trimesh.Trimesh:
    """Torus in the XY plane; `arc_deg` < 360 keeps only the faces within that arc centred on +X
    (an open ring, e.g. a mug handle)."""
    mesh = trimesh.creation.torus(major_radius=major, minor_radius=minor, major_sections=SECTIONS,
                                  minor_sections=12)
    if arc_deg < 360.0:
        centres = mesh.triangles_center
        angle = np.degrees(np.abs(np.arctan2(centres[:, 1], centres[:, 0])))
        mesh.update_faces(angle <= arc_deg / 2)
        mesh.remove_unreferenced_vertices()
    return mesh


def place(
    mesh: trimesh.Trimesh, translate=(0.0, 0.0, 0.0), rotate_axis=None, rotate_deg: float = 0.0
) -> trimesh.Trimesh:
    """Rotate about the origin (axis, degrees), then translate. Returns the same mesh."""
    if rotate_axis is not None and rotate_deg:
        mesh.apply_transform(trimesh.transformations.rotation_matrix(np.radians(rotate_deg), rotate_axis))
    mesh.apply_translation(translate)
    return mesh


def paint(mesh: trimesh.Trimesh, rng: np.random.Generator, color: np.ndarray | None = None, style: str | None = None,
          texture_size: int = 64) -> trimesh.Trimesh:
    """Give `mesh` (in its local frame) a look: style "solid" | "gradient" | "texture" (random if None)."""
    color = random_color(rng) if color is None else np.asarray(color, dtype=np.float64)
    style = style or rng.choice(["solid", "solid", "gradient", "texture", "texture"])
    if style == "solid":
        mesh.visual.face_colors = _rgba8(color)
    elif style == "gradient":
        other = contrasting_color(rng, color) * 0.5 + color * 0.5
        z = mesh.vertices[:, 2]
        t = (z - z.min()) / max(np.ptp(z), 1e-9)
        if rng.random() < 0.5:
            t = 1.0 - t
        mesh.visual.vertex_colors = _rgba8(color[None] * (1 - t[:, None]) + other[None] * t[:, None])
    elif style == "texture":
        image = random_texture(rng, color, size=texture_size)
        repeats = (int(rng.integers(1, 4)), int(rng.integers(1, 3)))
        _apply_texture(mesh, image, repeats)
    else:
        raise ValueError(f"unknown paint style {style!r}")
    return mesh


def _apply_texture(mesh: trimesh.Trimesh, image: np.ndarray, repeats: tuple[int, int]) -> None:
    """Split vertices per face (so each corner has its own uv) and map the texture: cylindrical on
    faces that look sideways, planar (XY) on faces that look up or down."""
    normals = mesh.face_normals.copy()
    mesh.unmerge_vertices()  # vertex 3f + k is corner k of face f
    corners = mesh.vertices.reshape(-1, 3, 3)  # [F, 3, 3]
    extent = max(np.ptp(mesh.vertices[:, :2], axis=0).max(), 1e-9)
    z_min, height = mesh.vertices[:, 2].min(), max(np.ptp(mesh.vertices[:, 2]), 1e-9)

    angle = np.arctan2(corners[..., 1], corners[..., 0]) / (2 * np.pi)  # [F, 3] in (-0.5, 0.5]
    wraps = angle.max(1, keepdims=True) - angle.min(1, keepdims=True) > 0.5  # face crosses the seam
    angle = np.where(wraps & (angle < 0), angle + 1.0, angle)  # the renderer wraps uv, so no seam
    side_uv = np.stack([angle * repeats[0], (corners[..., 2] - z_min) / height * repeats[1]], -1)
    cap_uv = corners[..., :2] / extent * repeats[0] + 0.5
    is_cap = (np.abs(normals[:, 2]) > 0.8)[:, None, None]
    uv = np.where(is_cap, cap_uv, side_uv).reshape(-1, 2)
    material = trimesh.visual.material.SimpleMaterial(image=Image.fromarray(image), diffuse=(255, 255, 255, 255))
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)


def _rgba8(color: np.ndarray) -> np.ndarray:
    color = np.clip(np.asarray(color, dtype=np.float64), 0.0, 1.0)
    alpha = np.ones((*color.shape[:-1], 1))
    return (np.concatenate([color, alpha], -1) * 255.0 + 0.5).astype(np.uint8)
