"""Turntable contact sheet of the product, per photo at 6 azimuths around the photo's elevation: the
photo as given and the lifted proxy (no fit); with --view-sources including "generator", the view
generator's own views (its resolution, upsampled); then one row of the fitted .ply per view source.

    .venv/bin/python scripts/contact_sheet.py assets/examples/*.png -o sheet.png [--model DIR] [--preset default]
    .venv/bin/python scripts/contact_sheet.py assets/examples/*.png -o sheet.png --view-sources proxy,generator
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import torch

from img2gs.cameras import FOV_DEG, ORBIT_RADIUS, OrbitPose, intrinsics_from_fov, orbit_to_c2w
from img2gs.device import resolve_device
from img2gs.image_io import composite_on, load_image, resize_rgba, save_png
from img2gs.pipeline.outputs import ReconstructOutputs
from img2gs.paths import resolve_model_dir
from img2gs.pipeline.preprocess import preprocess_photo
from img2gs.pipeline.reconstruct import (
    generate_views,
    lift_to_proxy,
    load_generator,
    load_reconstruct_config,
    reconstruct,
)
from img2gs.proxy.render import render_proxy
from img2gs.splat.export_ply import load_ply
from img2gs.splat.render import render_rgba

AZIMUTHS = (0.0, 60.0, 120.0, 180.0, 240.0, 300.0)


def orbit(elevation: float, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = len(AZIMUTHS)
    c2w = orbit_to_c2w(torch.full((n,), elevation), torch.tensor(AZIMUTHS), torch.full((n,), ORBIT_RADIUS))
    return c2w, intrinsics_from_fov(FOV_DEG, size, size).expand(n, 3, 3)


def sheet_rows(photo_path: Path, preset: str, model: Path, size: int, work: Path,
               sources: tuple[str, ...] = ("proxy",)) -> torch.Tensor:
    config = load_reconstruct_config(preset, device="cpu")
    photo = preprocess_photo(load_image(photo_path), config.photo_size, remove_background=config.remove_background)
    (proxy,), pose = lift_to_proxy(photo, config, model, resolve_device("cpu"), (config.lift,))
    c2w, K = orbit(pose.elevation, size)
    proxy_views = render_proxy(proxy, c2w, K, size, size).rgba
    given = resize_rgba(photo, size)[None]
    blank = torch.ones(1, size, size, 3)
    rows = [torch.cat([composite_on(given, 1.0), composite_on(proxy_views, 1.0)])]
    if "generator" in sources:
        poses = [OrbitPose(pose.elevation, a, ORBIT_RADIUS) for a in AZIMUTHS]
        generated = generate_views(load_generator(model, resolve_device("cpu")), photo, pose, poses, proxy, config)
        rows.append(torch.cat([blank, composite_on(resize_rgba(generated, size), 1.0)]))
    for source in sources:
        outputs = ReconstructOutputs(ply=work / f"scene_{source}.ply", force=True)
        reconstruct(photo_path, outputs, dataclasses.replace(config, view_source=source), model_dir=model)
        fitted = render_rgba(load_ply(outputs.ply), c2w, K, size, size)
        rows.append(torch.cat([blank, composite_on(fitted, 1.0)]))
    return torch.cat([torch.cat(list(r), dim=1) for r in rows], dim=0)  # [rows * size, 7 size, 3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--view-sources", default="proxy", help="comma-separated: proxy, generator")
    args = parser.parse_args()
    sources = tuple(s.strip() for s in args.view_sources.split(",") if s.strip())
    model = resolve_model_dir(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [sheet_rows(p, args.preset, model, args.size, Path(tmp), sources) for p in args.photos]
    save_png(args.output, torch.cat(rows, dim=0))
    rows_note = ["photo + proxy"] + (["generated views"] if "generator" in sources else [])
    rows_note += [f"fitted .ply ({s})" for s in sources]
    print(f"wrote {args.output}: per photo at azimuths {AZIMUTHS}, rows: {'; '.join(rows_note)}")


if __name__ == "__main__":
    main()
