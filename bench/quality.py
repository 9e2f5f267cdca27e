"""The number the product is judged by: reconstruct validation objects of the data builder from their
input view alone, render the resulting .ply at the held-out ground-truth poses (what `img2gs render
--cameras` does) and at the photo's own pose (the camera the product gave the photo: its estimated
elevation, or the true one with --true-elevation), and compare with the ground truth / the photo:
PSNR / SSIM / LPIPS on white, the silhouette IoU (rendered alpha > 0.5 vs true alpha > 0.5),
which measures the shape alone, and the fuzz: the fraction of the image that is half-transparent
(alpha in (0.05, 0.95)) more than 2 px outside the true silhouette (img2gs.metrics.fuzz_fraction:
fur and floaters).

Samples are spread over every data source of the validation split (procedural, organic, meshes).
Each sample's view 0 is the photo; the product estimates its elevation as it does for users
(`--true-elevation` passes the true one as --elevation instead). Reference rows on the same samples:
    input photo repeated   the photo itself shown at every held-out pose
    empty image            white everywhere
    true-depth proxy       the photo lifted on its TRUE depth layers from the true elevation
                           (img2gs.proxy), no fit: what a perfect shape stage gives through the lift

Reproduce: .venv/bin/python bench/quality.py --data data/cpu --samples 16 [--preset default] [--model DIR]
           [--view-source proxy|generator] [--true-elevation] [--json out.json]
Last line: RESULT psnr=… ssim=… lpips=… iou=… fuzz=…% input_psnr=… input_iou=… samples=…
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch

from img2gs.cameras import FOV_DEG, input_pose, intrinsics_from_fov, orbit_to_c2w
from img2gs.data import load_shards
from img2gs.data.selection import data_source, spread_samples
from img2gs.image_io import composite_on, resize_rgba, save_png
from img2gs.lpips import lpips_distance
from img2gs.metrics import fuzz_fraction, mask_iou, psnr, ssim
from img2gs.pipeline.outputs import ReconstructOutputs
from img2gs.pipeline.reconstruct import load_reconstruct_config, reconstruct
from img2gs.proxy.lift import LiftConfig, lift_photo
from img2gs.proxy.render import render_proxy
from img2gs.shape.loss import object_mask
from img2gs.splat.export_ply import load_ply
from img2gs.splat.render import render_rgba

ROWS = ("product", "input photo repeated", "empty image", "true-depth proxy")
METRICS = ("psnr", "ssim", "lpips", "iou", "fuzz", "input_psnr", "input_iou")


def scores(pred_rgba: torch.Tensor, truth_rgba: torch.Tensor) -> dict[str, float]:
    """PSNR / SSIM / LPIPS on white and silhouette IoU of RGBA images [N, H, W, 4]."""
    pred, truth = composite_on(pred_rgba, 1.0), composite_on(truth_rgba, 1.0)
    return {"psnr": float(psnr(pred, truth).mean()), "ssim": float(ssim(pred, truth).mean()),
            "lpips": float(lpips_distance(pred, truth).mean()),
            "iou": float(mask_iou(pred_rgba[..., 3] > 0.5, truth_rgba[..., 3] > 0.5).mean()),
            "fuzz": float(fuzz_fraction(pred_rgba[..., 3], truth_rgba[..., 3] > 0.5).mean())}


def cameras(poses: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    c2w = orbit_to_c2w(poses[:, 0], poses[:, 1], poses[:, 2])
    return c2w, intrinsics_from_fov(FOV_DEG, size, size).expand(len(c2w), 3, 3)


def render_supersampled(gaussians, c2w: torch.Tensor, size: int, factor: int = 4) -> torch.Tensor:
    """RGBA [V, size, size, 4] rendered at factor x size and area-downsampled (premultiplied): what a
    viewer shows at full resolution, seen at the ground truth's. Rendering fitted splats directly at a
    fraction of their fitting resolution would dilate every Gaussian by the rasterizer's 0.3 px^2."""
    big = size * factor
    K = intrinsics_from_fov(FOV_DEG, big, big).expand(len(c2w), 3, 3)
    return resize_rgba(render_rgba(gaussians, c2w, K, big, big), size)


def row_scores(rendered_targets: torch.Tensor, rendered_input: torch.Tensor, images: torch.Tensor) -> dict:
    s = scores(rendered_targets, images[1:])
    at_input = scores(rendered_input, images[:1])
    return {**s, "input_psnr": at_input["psnr"], "input_iou": at_input["iou"]}


def evaluate_sample(sample: dict, preset: str, model: Path | None, work: Path, true_elevation: bool,
                    view_source: str | None = None) -> dict:
    images, poses, depth = sample["images"], sample["poses"], sample["depth"]  # [V,H,W,4], [V,3], [2,H,W]
    size = images.shape[1]
    photo = work / "photo.png"
    save_png(photo, images[0])
    elevation = float(poses[0, 0]) if true_elevation else None
    # The photo is framed by the data builder already (clamped samples fill less than 0.8): reframing it
    # would scale the object against its ground truth, so the product takes it as framed.
    config = load_reconstruct_config(preset, elevation=elevation, device="cpu", reframe=False, view_source=view_source)
    outputs = ReconstructOutputs(ply=work / "scene.ply", force=True)
    report = reconstruct(photo, outputs, config, model_dir=model)
    c2w, K = cameras(poses, size)
    gaussians = load_ply(outputs.ply)
    product = render_supersampled(gaussians, c2w[1:], size)  # [V - 1, H, W, 4] at the true target poses
    # ... and at the photo's own viewpoint: the camera the product gave the photo (its elevation estimate)
    own_pose = torch.tensor([[report.elevation, 0.0, float(poses[0, 2])]])
    at_photo = render_supersampled(gaussians, cameras(own_pose, size)[0], size)
    out = {"product": row_scores(product, at_photo, images)}
    repeated = images[:1].expand(len(images) - 1, -1, -1, -1)
    out["input photo repeated"] = row_scores(repeated, images[:1], images)
    empty = torch.zeros_like(images)
    out["empty image"] = row_scores(empty[1:], empty[:1], images)
    mask = object_mask(images[None, 0, ..., 3], depth[None])[0]
    proxy = lift_photo(images[0], depth[0], depth[1], mask, input_pose(float(poses[0, 0])), LiftConfig(size=size))
    true_proxy = render_proxy(proxy, c2w, K, size, size).rgba
    out["true-depth proxy"] = row_scores(true_proxy[1:], true_proxy[:1], images)
    out["elevation_used"] = report.elevation
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/cpu"))
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--true-elevation", action="store_true", help="pass the true elevation as --elevation")
    parser.add_argument("--view-source", default=None, help="proxy | generator (default: the preset's)")
    parser.add_argument("--json", type=Path, default=None, help="also write per-sample numbers here")
    args = parser.parse_args()
    print(f"# reproduce: .venv/bin/python bench/quality.py --data {args.data} --samples {args.samples} "
          f"--preset {args.preset}" + (f" --model {args.model}" if args.model else "")
          + (" --true-elevation" if args.true_elevation else "")
          + (f" --view-source {args.view_source}" if args.view_source else ""))
    dataset = load_shards(args.data, "val")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in spread_samples(dataset.object_ids, args.samples):
            sample = dataset[index]
            result = evaluate_sample(sample, args.preset, args.model, Path(tmp), args.true_elevation,
                                     args.view_source)
            result.update(object_id=sample["object_id"], source=data_source(sample["object_id"]),
                          true_elevation=float(sample["poses"][0, 0]))
            results.append(result)
            p = result["product"]
            print(f"{sample['object_id']}: psnr={p['psnr']:.2f} ssim={p['ssim']:.3f} lpips={p['lpips']:.3f} "
                  f"iou={p['iou']:.3f} fuzz={100 * p['fuzz']:.2f}% input_psnr={p['input_psnr']:.2f} input_iou={p['input_iou']:.3f} "
                  f"elevation {result['elevation_used']:.1f} (true {result['true_elevation']:.1f})", flush=True)
    groups = {"all": results}
    for r in results:
        groups.setdefault(r["source"], []).append(r)
    print("\n| row | source | samples | PSNR | SSIM | LPIPS | IoU | fuzz | input-pose PSNR | input-pose IoU |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in ROWS:
        for name, group in groups.items():
            m = {k: statistics.mean(r[row][k] for r in group) for k in METRICS}
            input_psnr = "∞ (the photo itself)" if m["input_psnr"] >= 100 else f"{m['input_psnr']:.2f}"
            print(f"| {row} | {name} | {len(group)} | {m['psnr']:.2f} | {m['ssim']:.3f} | {m['lpips']:.3f} | "
                  f"{m['iou']:.3f} | {100 * m['fuzz']:.2f}% | {input_psnr} | {m['input_iou']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    m = {k: statistics.mean(r["product"][k] for r in results) for k in METRICS}
    print(f"RESULT psnr={m['psnr']:.2f} ssim={m['ssim']:.3f} lpips={m['lpips']:.3f} iou={m['iou']:.3f} "
          f"fuzz={100 * m['fuzz']:.2f}% input_psnr={m['input_psnr']:.2f} input_iou={m['input_iou']:.3f} samples={len(results)}")


if __name__ == "__main__":
    main()
