"""Splat fitting quality and speed on the synthetic scene (img2gs/mesh_render/synthetic_scene.py).

Renders the scene (16 train views + 4 held-out views at 128x128 by default), fits it with a preset,
extracts the mesh, and reports held-out PSNR / SSIM (white background), the fuzz (the fraction of each
held-out image that is half-transparent, alpha in (0.05, 0.95), more than 2 px outside the true
silhouette: img2gs.metrics.fuzz_fraction), the needles (the fraction of Gaussians with opacity > 0.05 whose
longest axis is more than 10x their shortest) and the mesh's Chamfer distance to the true surface
(img2gs.splat.mesh.surface_chamfer; object in the unit sphere). `wall_s` is the time of fitting + mesh
extraction, as `img2gs fit --mesh` spends it. Last line:

    RESULT wall_s=... psnr_heldout=... ssim_heldout=... fuzz_heldout=...% needles=...% chamfer=... n_gaussians=...

The same fit from the command line, on the scene folder this script keeps with `--scene-dir DIR`:
    img2gs fit DIR -o scene.ply --mesh mesh.ply --preset default --backend cpu
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench/rasterize.py: shared CPUs

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from img2gs.mesh_render.synthetic_scene import synthetic_mesh, write_synthetic_scene  # noqa: E402
from img2gs.metrics import surface_chamfer  # noqa: E402
from img2gs.posed_views import read_posed_views  # noqa: E402
from img2gs.presets import load_preset  # noqa: E402
from img2gs.splat.export_mesh import save_mesh  # noqa: E402
from img2gs.splat.export_ply import save_ply  # noqa: E402
from img2gs.splat.fit import FitConfig, evaluate, fit  # noqa: E402
from img2gs.splat.floaters import remove_floaters  # noqa: E402
from img2gs.splat.mesh import extract_mesh  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--iters", type=int, default=None)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--train-views", type=int, default=16)
    parser.add_argument("--test-views", type=int, default=4)
    parser.add_argument("--backend", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="keep scene.ply and mesh.ply here")
    parser.add_argument("--scene-dir", type=Path, default=None, help="keep the rendered scene folder here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"command: OMP_WAIT_POLICY=PASSIVE python {' '.join(sys.argv)}", flush=True)
    print(f"torch threads: {torch.get_num_threads()}, cpus visible: {os.cpu_count()}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.scene_dir or Path(tmp) / "scene"
        data = write_synthetic_scene(folder, args.train_views, args.test_views, args.size)
        views = read_posed_views(data)  # through the file format, as `img2gs fit` reads it
    train, test = views.subset("train"), views.subset("test")
    config = load_preset(FitConfig, "splat", args.preset, iterations=args.iters)
    print(f"preset {args.preset}: {config}", flush=True)

    start = time.perf_counter()
    result = fit(train, config, backend=args.backend, callback=_progress(config.iterations))
    fit_s = time.perf_counter() - start
    mesh = extract_mesh(result.gaussians, config.mesh, backend=args.backend)
    wall = time.perf_counter() - start
    scores = evaluate(result.gaussians, test, backend=args.backend)
    # the pipeline's floater removal (splat/floaters.py), every view voting (no trusted photo here)
    pruned, removed = remove_floaters(result.gaussians, train, trusted=0)
    pruned_scores = evaluate(pruned, test, backend=args.backend)
    print(f"floater removal: {removed} of {len(result.gaussians)} Gaussians removed; held-out PSNR "
          f"{scores['psnr']:.2f} -> {pruned_scores['psnr']:.2f} dB, fuzz {100 * scores['fuzz']:.2f}% -> "
          f"{100 * pruned_scores['fuzz']:.2f}%", flush=True)
    chamfer = surface_chamfer(mesh, synthetic_mesh())
    if args.out is not None:
        save_ply(args.out / "scene.ply", result.gaussians)
        save_mesh(args.out / "mesh.ply", mesh)
    print(f"fit {fit_s:.1f} s ({result.stats['it_per_s']:.2f} it/s), mesh {wall - fit_s:.1f} s, "
          f"{len(mesh.faces)} faces; held-out PSNR per view {[round(p, 2) for p in scores['psnr_per_view']]}")
    print(f"RESULT wall_s={wall:.1f} psnr_heldout={scores['psnr']:.2f} ssim_heldout={scores['ssim']:.4f} "
          f"fuzz_heldout={100 * scores['fuzz']:.2f}% needles={100 * needle_fraction(result.gaussians):.2f}% chamfer={chamfer:.4f} n_gaussians={len(result.gaussians)}")


def needle_fraction(gaussians, ratio: float = 10.0, min_opacity: float = 0.05) -> float:
    """Fraction of the visible Gaussians (opacity > min_opacity) longer than `ratio` times their width."""
    scales, visible = gaussians.scales, gaussians.opacities > min_opacity
    needles = scales.max(dim=-1).values > ratio * scales.min(dim=-1).values
    return float((needles & visible).sum()) / max(int(visible.sum()), 1)


def _progress(total: int):
    start = time.perf_counter()

    def callback(p) -> None:
        if p.step % max(total // 10, 1) == 0:
            print(f"  step {p.step}/{total}  loss {p.loss:.4f}  batch PSNR {p.psnr:.2f}  #G {p.n_gaussians}  "
                  f"{time.perf_counter() - start:.0f} s", flush=True)

    return callback


if __name__ == "__main__":
    main()
