"""A mesh prepared for rendering: triangles with per-corner colours, normals and texture coordinates.

`prepare_surface` converts what trimesh loads (a `Trimesh` with colour or texture visuals, or a `Scene`
of them) into flat arrays once, so the renderer can draw the same object from many cameras without
looking at trimesh again.

Materials
    * per-vertex colours (`ColorVisuals` of kind "vertex") and per-face colours (kind "face", or the
      default grey of an uncoloured mesh);
    * textures (`TextureVisuals` with `uv` and a `SimpleMaterial.image` or
      `PBRMaterial.baseColorTexture`), multiplied by the material's diffuse / base colour factor, as
      the MTL and glTF specifications define. Texture alpha and material transparency are ignored:
      surfaces are opaque.

Normals
    Per-corner normals are smooth across edges whose faces meet at less than `crease_deg` and sharp
    otherwise, so a sphere looks round and a box keeps its edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from PIL import Image

from img2gs.errors import DataFormatError

DEFAULT_CREASE_DEG = 35.0
DEFAULT_GREY = np.array([102, 102, 102], dtype=np.float32) / 255.0  # trimesh's default colour


@dataclass(frozen=True)
class RenderSurface:
    """Triangles ready to render. F faces, V vertices, T textures."""

    vertices: np.ndarray  # [V, 3] float64 world positions
    faces: np.ndarray  # [F, 3] int32 vertex indices
    corner_colors: np.ndarray  # [F, 3, 3] float32 linear RGB in [0, 1] (multiplies the texture, if any)
    corner_normals: np.ndarray  # [F, 3, 3] float32 unit normals, oriented like the face winding
    corner_uv: np.ndarray  # [F, 3, 2] float32 texture coordinates (origin bottom-left); 0 if untextured
    face_texture: np.ndarray  # [F] int32 index into `textures`, -1 for untextured faces
    textures: tuple[np.ndarray, ...]  # T images [h, w, 3] float32 in [0, 1], row 0 at the top

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])


def prepare_surface(
    mesh: trimesh.Trimesh | trimesh.Scene | RenderSurface,
    crease_deg: float = DEFAULT_CREASE_DEG,
    max_texture_size: int | None = None,
) -> RenderSurface:
    """Flatten a trimesh mesh or scene (transforms applied) into a `RenderSurface`.

    `max_texture_size` shrinks larger textures (area filter) first: memory, and a prefilter against
    aliasing when small images are rendered (the renderer has no mipmaps)."""
    if isinstance(mesh, RenderSurface):
        return mesh
    if isinstance(mesh, trimesh.Scene):
        parts = [g for g in mesh.dump(concatenate=False) if isinstance(g, trimesh.Trimesh) and len(g.faces)]
        if not parts:
            raise DataFormatError("the scene contains no triangles to render")
        return concatenate_surfaces([_surface_of_trimesh(p, crease_deg, max_texture_size) for p in parts])
    if isinstance(mesh, trimesh.Trimesh):
        if len(mesh.faces) == 0:
            raise DataFormatError("the mesh has no triangles to render")
        return _surface_of_trimesh(mesh, crease_deg, max_texture_size)
    raise TypeError(f"expected a trimesh.Trimesh, trimesh.Scene or RenderSurface, got {type(mesh).__name__}")


def concatenate_surfaces(surfaces: list[RenderSurface]) -> RenderSurface:
    """One surface holding all triangles (vertex and texture indices offset)."""
    vertex_offsets = np.cumsum([0] + [s.vertices.shape[0] for s in surfaces[:-1]])
    texture_offsets = np.cumsum([0] + [len(s.textures) for s in surfaces[:-1]])
    face_texture = [
        np.where(s.face_texture >= 0, s.face_texture + t_off, -1) for s, t_off in zip(surfaces, texture_offsets)
    ]
    return RenderSurface(
        vertices=np.concatenate([s.vertices for s in surfaces]),
        faces=np.concatenate([s.faces + v_off for s, v_off in zip(surfaces, vertex_offsets)]).astype(np.int32),
        corner_colors=np.concatenate([s.corner_colors for s in surfaces]),
        corner_normals=np.concatenate([s.corner_normals for s in surfaces]),
        corner_uv=np.concatenate([s.corner_uv for s in surfaces]),
        face_texture=np.concatenate(face_texture).astype(np.int32),
        textures=tuple(t for s in surfaces for t in s.textures),
    )


def transformed(surface: RenderSurface, matrix: np.ndarray) -> RenderSurface:
    """The surface moved by a similarity transform [4, 4] (rotation * uniform scale + translation)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    linear = matrix[:3, :3]
    vertices = surface.vertices @ linear.T + matrix[:3, 3]
    normals = surface.corner_normals.astype(np.float64) @ np.linalg.inv(linear)  # inverse-transpose rule
    normals /= np.maximum(np.linalg.norm(normals, axis=-1, keepdims=True), 1e-12)
    if np.linalg.det(linear) < 0:  # a reflection reverses the winding; keep normals on the winding side
        normals = -normals
    return RenderSurface(vertices, surface.faces, surface.corner_colors, normals.astype(np.float32),
                         surface.corner_uv, surface.face_texture, surface.textures)


def _surface_of_trimesh(mesh: trimesh.Trimesh, crease_deg: float, max_texture_size: int | None) -> RenderSurface:
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int32)
    if not np.isfinite(vertices).all():
        raise DataFormatError("the mesh has non-finite vertex positions")
    colors, uv, texture = _materials(mesh, faces, max_texture_size)
    n_faces = faces.shape[0]
    return RenderSurface(
        vertices=vertices,
        faces=faces,
        corner_colors=colors,
        corner_normals=corner_normals(vertices, faces, crease_deg),
        corner_uv=uv if uv is not None else np.zeros((n_faces, 3, 2), np.float32),
        face_texture=np.full(n_faces, 0 if texture is not None else -1, np.int32),
        textures=(texture,) if texture is not None else (),
    )


def _materials(
    mesh: trimesh.Trimesh, faces: np.ndarray, max_texture_size: int | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(corner colours [F, 3, 3], corner uv [F, 3, 2] or None, texture [h, w, 3] or None)."""
    visual = mesh.visual
    n_faces = faces.shape[0]
    if isinstance(visual, trimesh.visual.TextureVisuals):
        factor, image = _material_color_and_image(visual.material, max_texture_size)
        colors = np.broadcast_to(factor, (n_faces, 3, 3)).astype(np.float32)
        uv = getattr(visual, "uv", None)
        if image is None or uv is None or len(uv) != len(mesh.vertices):
            return colors, None, None
        return colors, np.asarray(uv, np.float32)[faces], image
    if visual.kind == "vertex":
        return (np.asarray(visual.vertex_colors, np.float32)[:, :3] / 255.0)[faces], None, None
    face_rgb = np.asarray(visual.face_colors, np.float32)[:, :3] / 255.0
    return np.repeat(face_rgb[:, None, :], 3, axis=1), None, None


def _material_color_and_image(material, max_texture_size: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(RGB factor [3] in [0, 1], texture [h, w, 3] float32 or None) of a trimesh material."""
    if material is None:
        return DEFAULT_GREY, None
    if isinstance(material, trimesh.visual.material.PBRMaterial):  # glTF: an absent factor is white
        factor = np.ones(3, np.float32) if material.baseColorFactor is None else material.baseColorFactor
        image = material.baseColorTexture
    else:
        factor = getattr(material, "diffuse", None)
        image = getattr(material, "image", None)
    factor = DEFAULT_GREY if factor is None else np.asarray(factor, np.float32)[:3]
    if factor.max() > 1.0:  # trimesh stores colours as uint8
        factor = factor / 255.0
    if image is None:
        return factor.astype(np.float32), None
    image = image.convert("RGB")
    if max_texture_size and max(image.size) > max_texture_size:
        ratio = max_texture_size / max(image.size)
        image = image.resize((max(1, round(image.width * ratio)), max(1, round(image.height * ratio))), Image.BOX)
    rgb = np.asarray(image, dtype=np.float32) / 255.0
    return factor.astype(np.float32), rgb


def corner_normals(vertices: np.ndarray, faces: np.ndarray, crease_deg: float = DEFAULT_CREASE_DEG) -> np.ndarray:
    """[F, 3, 3] per-corner normals: the area-weighted mean of the normals of the faces around the
    corner's vertex (position) that are within `crease_deg` of the corner's own face normal."""
    tri = vertices[faces]  # [F, 3, 3]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # [F, 3], length = 2 * area
    area2 = np.linalg.norm(cross, axis=-1, keepdims=True)
    unit = cross / np.maximum(area2, 1e-30)
    n_faces = faces.shape[0]
    # All (corner, other corner) pairs at the same position: corners are grouped by vertex position,
    # not index, so vertices split at texture seams (as OBJ / glTF loaders do) still share normals.
    _, position_id = np.unique(vertices, axis=0, return_inverse=True)
    corner_vertex = position_id.reshape(-1)[faces.ravel()]
    order = np.argsort(corner_vertex, kind="stable")
    sorted_vertex = corner_vertex[order]
    starts = np.flatnonzero(np.r_[True, sorted_vertex[1:] != sorted_vertex[:-1]])
    counts = np.diff(np.r_[starts, sorted_vertex.size])
    group_of = np.repeat(np.arange(starts.size), counts)  # group of each sorted corner
    pairs_per_corner = counts[group_of]
    first = np.repeat(np.arange(order.size), pairs_per_corner)  # index into `order`
    offset = np.arange(first.size) - np.repeat(np.cumsum(pairs_per_corner) - pairs_per_corner, pairs_per_corner)
    second = starts[group_of[first]] + offset
    corner_a, corner_b = order[first], order[second]  # flat corner ids (face * 3 + k)
    face_a, face_b = corner_a // 3, corner_b // 3
    similar = (unit[face_a] * unit[face_b]).sum(-1) >= np.cos(np.radians(crease_deg))
    summed = np.zeros((n_faces * 3, 3))
    np.add.at(summed, corner_a[similar], cross[face_b[similar]])
    summed = summed.reshape(n_faces, 3, 3)
    length = np.linalg.norm(summed, axis=-1, keepdims=True)
    fallback = np.repeat(unit[:, None, :], 3, axis=1)
    normals = np.where(length > 1e-30, summed / np.maximum(length, 1e-30), fallback)
    return normals.astype(np.float32)
