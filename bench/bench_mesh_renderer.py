"""Mesh renderer speed: CPU milliseconds per view, one thread, side by side in one run.

Rows: the full `render_mesh` (numba rasterizer + numba shading, supersample 2) at 64^2 and 128^2 on a
~5k-triangle and a ~80k-triangle mesh; the shading kernel against its torch twin; the rasterizer alone
against its pure-torch twin (the brute-force reference) at a small size, as ratios. CPU time (not wall time) is reported because the
machine is usually shared; it counts every thread of the process.

    .venv/bin/python bench/bench_mesh_renderer.py
"""

from __future__ import annotations

import time

import numba
import numpy as np
import torch
import trimesh

from img2gs.cameras import intrinsics_from_fov, orbit_to_c2w
from img2gs.mesh_render import prepare_surface, render_mesh
from img2gs.mesh_render import _rasterize_torch
from img2gs.mesh_render import _shade_torch
from img2gs.mesh_render.mesh_renderer import project_vertices
from img2gs.mesh_render.rasterize import rasterize
from img2gs.mesh_render.shade import shade

VIEWS = 12


def cpu_ms(fn, repeat: int = 3) -> float:
    fn()  # warm-up (numba compilation, caches)
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best * 1000.0


def cameras(n: int):
    return orbit_to_c2w(torch.full((n,), 20.0), torch.linspace(0.0, 330.0, n), torch.full((n,), 3.2))


def test_mesh(subdivisions: int) -> trimesh.Trimesh:
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=0.8)
    mesh.visual.vertex_colors = (np.random.default_rng(0).random((len(mesh.vertices), 4)) * 255).astype(np.uint8)
    return mesh


def main() -> None:
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    c2w = cameras(VIEWS)
    print(f"render_mesh, supersample 2, {VIEWS} views per call, CPU ms per view (1 thread)")
    for subdivisions in (4, 6):
        surface = prepare_surface(test_mesh(subdivisions))
        for size in (64, 128):
            K = intrinsics_from_fov(40.0, size, size)
            ms = cpu_ms(lambda: render_mesh(surface, c2w, K, size, size, supersample=2)) / VIEWS
            print(f"  {surface.num_faces:6d} triangles  {size:3d}x{size:<3d}  {ms:7.2f} ms/view")

    surface, size = prepare_surface(test_mesh(4)), 128
    K = intrinsics_from_fov(40.0, size, size).expand(VIEWS, 3, 3).clone()
    K[:, :2] *= 2
    face_id, bary, _ = rasterize(project_vertices(surface.vertices, c2w, K), surface.faces, 2 * size, 2 * size)
    args = (surface, face_id, bary, c2w[:, :3, 3].double().numpy(), np.array([0.0, 0.0, 1.0]), 0.3)
    numba_ms, torch_ms = cpu_ms(lambda: shade(*args)) / VIEWS, cpu_ms(lambda: _shade_torch.shade(*args)) / VIEWS
    print(f"shading only, {size}x{size} x supersample 2: numba {numba_ms:.2f} ms/view, torch twin {torch_ms:.2f} "
          f"ms/view, ratio {torch_ms / numba_ms:.1f}x")

    size, faces_mesh = 32, prepare_surface(test_mesh(2))
    K = intrinsics_from_fov(40.0, size, size).expand(4, 3, 3)
    screen = project_vertices(faces_mesh.vertices, cameras(4), K)
    numba_ms = cpu_ms(lambda: rasterize(screen, faces_mesh.faces, size, size))
    torch_ms = cpu_ms(lambda: _rasterize_torch.rasterize(torch.from_numpy(screen), torch.from_numpy(faces_mesh.faces),
                                                  size, size), repeat=1)
    print(f"rasterizer only, {faces_mesh.num_faces} triangles, 4 views at {size}x{size}: numba {numba_ms:.2f} ms, "
          f"torch twin {torch_ms:.1f} ms, ratio {torch_ms / numba_ms:.0f}x")


if __name__ == "__main__":
    main()
