"""UV-textured meshes: an xatlas unwrap, then the Gaussians' rendered colours baked into a texture atlas.

1. `unwrap`: xatlas (the library behind Blender's and Godot's lightmap packers) cuts the mesh into charts
   and packs them into the unit square, `padding` texels apart; vertices on chart seams are split.
2. `texel_surface_points`: every texel centre of the atlas that a chart covers is mapped back onto the
   surface. The UV layout is rasterized with the project's own z-buffer kernel (mesh_render/rasterize.py,
   tested against its torch twin), fed UV coordinates as screen positions at a constant depth, where
   its perspective-correct barycentrics are exactly the affine ones.
3. `bake_texture`: each of those surface points takes the mean colour of the views in which it is
   visible (view_colors.py, the same rule as the vertex colours), points no view sees
   the colour of the nearest Gaussian, and the empty texels around the charts take the colour of the
   nearest covered texel, so that filtering and mipmaps in viewers do not bleed the background in.

UV convention: trimesh's (OpenGL's, v up): texel row r holds v = 1 - (r + 0.5) / size; trimesh flips
v itself when it writes glTF.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import trimesh
import xatlas
from PIL import Image
from torch import Tensor

from img2gs.image_io import fill_from_nearest
from img2gs.mesh_render.rasterize import rasterize

ColorsAt = Callable[[Tensor], tuple[Tensor, Tensor]]  # points [N, 3] -> (colours [N, 3], seen [N] bool)
Fallback = Callable[[Tensor], Tensor]  # points [M, 3] no view sees -> colours [M, 3]


@dataclass(frozen=True)
class TextureConfig:
    size: int = 1024  # atlas side, texels
    padding: int = 2  # texels between charts (xatlas's pack padding)

    def __post_init__(self) -> None:
        if not 16 <= self.size <= 8192 or self.padding < 0:
            raise ValueError(f"texture size must be in [16, 8192] and padding >= 0, got {self.size}, {self.padding}")


@dataclass(frozen=True)
class UVMesh:
    vertices: np.ndarray  # [P, 3] float64, seam vertices duplicated
    faces: np.ndarray  # [F, 3] int
    uv: np.ndarray  # [P, 2] float in [0, 1], v up
    source_vertex: np.ndarray  # [P] index of each vertex in the unwrapped mesh


def unwrap(mesh: trimesh.Trimesh, config: TextureConfig) -> UVMesh:
    """Charts of `mesh` packed into the unit square by xatlas."""
    atlas = xatlas.Atlas()
    atlas.add_mesh(np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces, np.uint32))
    charts = xatlas.ChartOptions()
    charts.max_iterations = 0  # no chart-growing refinement: measured on the example mug's 20k faces,
    # 3.0 s instead of 4.7 s for 970 charts instead of 640, the same atlas utilisation (0.75)
    pack = xatlas.PackOptions()
    pack.resolution, pack.padding, pack.bilinear, pack.blockAlign = config.size, config.padding, True, True
    atlas.generate(charts, pack)
    vmapping, faces, uv = atlas[0]
    return UVMesh(vertices=np.asarray(mesh.vertices, np.float64)[vmapping], faces=faces.astype(np.int64),
                  uv=uv.astype(np.float64), source_vertex=vmapping.astype(np.int64))


def texel_surface_points(uv_mesh: UVMesh, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(covered [size, size] bool, points [N, 3] float32): the surface point under each covered texel
    centre, in the row-major order of `covered`."""
    screen = np.empty((1, len(uv_mesh.uv), 3), np.float64)
    screen[0, :, 0] = uv_mesh.uv[:, 0] * size
    screen[0, :, 1] = (1.0 - uv_mesh.uv[:, 1]) * size
    screen[0, :, 2] = 1.0  # one depth everywhere: barycentrics are the affine ones
    face_id, bary, _ = rasterize(screen, uv_mesh.faces.astype(np.int32), size, size)
    covered = face_id[0] >= 0
    corners = uv_mesh.vertices[uv_mesh.faces[face_id[0][covered]]]  # [N, 3 corners, 3]
    points = (bary[0][covered][..., None] * corners).sum(axis=1)
    return covered, points.astype(np.float32)


def bake_texture(
    uv_mesh: UVMesh,
    colors_at: ColorsAt,
    fallback: Fallback,
    size: int,
) -> np.ndarray:
    """[size, size, 3] uint8 texture atlas of `uv_mesh` (see the module docstring)."""
    covered, points = texel_surface_points(uv_mesh, size)
    if not covered.any():
        raise ValueError("the UV layout covers no texel")
    p = torch.from_numpy(points)
    colors, seen = colors_at(p)
    if not bool(seen.all()):
        colors[~seen] = fallback(p[~seen])
    image = torch.zeros(size, size, 3)
    image[torch.from_numpy(covered)] = colors.clamp(0.0, 1.0)
    return (fill_from_nearest(image, torch.from_numpy(covered)).numpy() * 255.0 + 0.5).astype(np.uint8)


def textured_mesh(
    mesh: trimesh.Trimesh,
    colors_at: ColorsAt,
    fallback: Fallback,
    config: TextureConfig = TextureConfig(),
) -> trimesh.Trimesh:
    """`mesh` unwrapped, with its baked atlas as a matte glTF material (metallic 0: glTF's default of 1
    would show the baked colours as dark metal in every viewer)."""
    uv_mesh = unwrap(mesh, config)
    image = Image.fromarray(bake_texture(uv_mesh, colors_at, fallback, config.size))
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=image, baseColorFactor=(255, 255, 255, 255),
                                                   metallicFactor=0.0, roughnessFactor=1.0)
    return trimesh.Trimesh(uv_mesh.vertices, uv_mesh.faces, process=False,
                           visual=trimesh.visual.TextureVisuals(uv=uv_mesh.uv, material=material))


def texture_image(mesh: trimesh.Trimesh) -> Image.Image | None:
    """The baked atlas of a `textured_mesh`, None for other meshes."""
    material = getattr(mesh.visual, "material", None)
    return getattr(material, "baseColorTexture", None)


def obj_material(image: Image.Image, name: str) -> trimesh.visual.material.SimpleMaterial:
    """The .obj form of the baked material: the atlas as map_Kd, Kd white (MTL multiplies the two), no
    specular highlight, named `name` (the .mtl's material and the texture file `name`.png)."""
    white, black = (255, 255, 255, 255), (0, 0, 0, 255)
    return trimesh.visual.material.SimpleMaterial(image=image, diffuse=white, ambient=white, specular=black,
                                                  glossiness=1.0, name=name)
