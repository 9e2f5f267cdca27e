"""The number the product is judged by: reconstruct validation objects of the data builder from their
input view alone, render the resulting .ply at the held-out ground-truth poses (what `img2gs render
--cameras` does) and compare with the ground-truth renders: PSNR / SSIM / LPIPS on white, and the
silhouette IoU (rendered alpha > 0.5 vs true alpha > 0.5), which measures the shape alone.

Each validation sample's view 0 is the input photo (framed by the camera contract; its elevation is
passed as --elevation) and views 1..V-1 are the held-out targets.

Reproduce: .venv/bin/python bench/quality.py --data data/cpu --samples 8 [--preset default] [--model DIR]
Last line: RESULT psnr=… ssim=… lpips=… iou=… samples=…
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from img2gs.cameras import FOV_DEG, intrinsics_from_fov, orbit_to_c2w
from img2gs.image_io import composite_on, save_png
from img2gs.lpips import lpips_distance
from img2gs.metrics import mask_iou, psnr, ssim
from img2gs.pipeline.outputs import ReconstructOutputs
from img2gs.pipeline.reconstruct import load_reconstruct_config, reconstruct
from img2gs.splat.export_ply import load_ply
from img2gs.splat.render import render_rgba
from img2gs.viewgen.data import load_shards


def evaluate_sample(sample: dict, preset: str, model: Path | None, work: Path) -> dict[str, float]:
    images, poses = sample["images"], sample["poses"]  # [V, H, W, 4], [V, 3]
    photo = work / "photo.png"
    save_png(photo, images[0])
    config = load_reconstruct_config(preset, elevation=float(poses[0, 0]), device="cpu")
    outputs = ReconstructOutputs(ply=work / "scene.ply", force=True)
    reconstruct(photo, outputs, config, model_dir=model)
    size = images.shape[1]
    c2w = orbit_to_c2w(poses[1:, 0], poses[1:, 1], poses[1:, 2])
    K = intrinsics_from_fov(FOV_DEG, size, size).expand(len(c2w), 3, 3)
    rendered = render_rgba(load_ply(outputs.ply), c2w, K, size, size)  # [V-1, H, W, 4]
    pred, truth = composite_on(rendered, 1.0), composite_on(images[1:], 1.0)
    return {"psnr": float(psnr(pred, truth).mean()), "ssim": float(ssim(pred, truth).mean()),
            "lpips": float(lpips_distance(pred, truth).mean()),
            "iou": float(mask_iou(rendered[..., 3] > 0.5, images[1:, ..., 3] > 0.5).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/cpu"))
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    print(f"# reproduce: .venv/bin/python bench/quality.py --data {args.data} --samples {args.samples} "
          f"--preset {args.preset}" + (f" --model {args.model}" if args.model else ""))
    dataset = load_shards(args.data, "val")
    step = max(1, len(dataset) // args.samples)
    scores = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(0, step * args.samples, step)[: args.samples]:
            sample = dataset[index]
            scores.append(evaluate_sample(sample, args.preset, args.model, Path(tmp)))
            s = scores[-1]
            print(f"{sample['object_id']}: psnr={s['psnr']:.2f} ssim={s['ssim']:.3f} lpips={s['lpips']:.3f} "
                  f"iou={s['iou']:.3f}")
    mean = {k: statistics.mean(s[k] for s in scores) for k in ("psnr", "ssim", "lpips", "iou")}
    print(f"RESULT psnr={mean['psnr']:.2f} ssim={mean['ssim']:.3f} lpips={mean['lpips']:.3f} iou={mean['iou']:.3f} "
          f"samples={len(scores)}")


if __name__ == "__main__":
    main()
