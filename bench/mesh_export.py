"""Mesh export from a fitted splat scene: time, size and colour fidelity, vertex colours vs baked texture.

For each mode (vertex colours; UV-unwrapped with a baked texture, what .glb / .obj get) the mesh is
extracted from the same `.ply` (img2gs.splat.mesh.extract_mesh) and rendered unlit (ambient 1) at 16
poses on the orbit (elevation 20 deg, azimuths every 22.5 deg, 256 px, on white), against the splats
rendered at the same poses: PSNR over the whole image (`psnr`) and over the pixels both cover
(`psnr_inside`, colour alone: outline differences excluded). The empty image (white) is the trivial
reference. Last line per mode:

    RESULT mode=... export_s=... faces=... psnr=... psnr_inside=... file_mb=...

Reproduce (the scene of the README's first command):
    img2gs reconstruct assets/examples/mug.jpg -o out/mug.ply
    .venv/bin/python bench/mesh_export.py out/mug.ply
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench/rasterize.py: shared CPUs

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from img2gs.cameras import FOV_DEG, intrinsics_from_fov, orbit_to_c2w  # noqa: E402
from img2gs.image_io import composite_on  # noqa: E402
from img2gs.metrics import psnr  # noqa: E402
from img2gs.mesh_render import render_mesh  # noqa: E402
from img2gs.splat.export_ply import load_ply  # noqa: E402
from img2gs.splat.export_mesh import save_mesh  # noqa: E402
from img2gs.splat.mesh import MeshConfig, extract_mesh  # noqa: E402
from img2gs.splat.render import render_rgba  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ply", type=Path, help="A fitted 3DGS scene (img2gs reconstruct -o ...).")
    parser.add_argument("--faces", type=int, default=MeshConfig().max_faces)
    parser.add_argument("--texture-size", type=int, default=MeshConfig().texture_size)
    parser.add_argument("--size", type=int, default=256, help="Render side for the comparison.")
    args = parser.parse_args()

    gaussians = load_ply(args.ply)
    n = 16
    c2w = orbit_to_c2w(torch.full((n,), 20.0), torch.arange(n) * (360.0 / n), torch.full((n,), 3.2))
    K = intrinsics_from_fov(FOV_DEG, args.size, args.size).expand(n, 3, 3)
    splats = render_rgba(gaussians, c2w, K, args.size, args.size, backend="cpu")
    reference = composite_on(splats)
    config = MeshConfig(max_faces=args.faces, texture_size=args.texture_size)
    extract_mesh(gaussians, MeshConfig(max_faces=args.faces, resolution=32), backend="cpu")  # compile kernels
    print(f"splats: {args.ply} ({len(gaussians)} Gaussians); empty image PSNR "
          f"{float(psnr(torch.ones_like(reference), reference).mean()):.2f} dB")
    for mode, textured, suffix in (("vertex_colors", False, ".ply"), ("texture", True, ".glb")):
        start = time.perf_counter()
        mesh = extract_mesh(gaussians, config, backend="cpu", textured=textured)
        export_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            path = save_mesh(Path(tmp) / f"mesh{suffix}", mesh)
            file_mb = path.stat().st_size / 2**20
        render = render_mesh(mesh, c2w, K, args.size, args.size, ambient=1.0).rgba
        both = (render[..., 3:] > 0.5) & (splats[..., 3:] > 0.5)
        score = float(psnr(composite_on(render), reference).mean())
        inside = float(psnr(composite_on(render), reference, both.float()).mean())
        print(f"RESULT mode={mode} export_s={export_s:.2f} faces={len(mesh.faces)} psnr={score:.2f} "
              f"psnr_inside={inside:.2f} file_mb={file_mb:.2f}")


if __name__ == "__main__":
    main()
