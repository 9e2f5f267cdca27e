"""CPU mesh rendering for dataset building and evaluation (numba z-buffer rasterizer).

`render_mesh(mesh, c2w, K, width, height)` -> `MeshRender(rgba, depth, normal)`.
"""

from img2gs.mesh_render.mesh_renderer import DEFAULT_LIGHT_DIR, MeshRender, render_mesh
from img2gs.mesh_render.surface import RenderSurface, prepare_surface

__all__ = ["DEFAULT_LIGHT_DIR", "MeshRender", "RenderSurface", "prepare_surface", "render_mesh"]
