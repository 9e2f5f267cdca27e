"""Make the example photos in assets/examples/ (renders of img2gs's own procedural objects, so the
project may ship them): each object is framed by the camera contract for the default input camera
(azimuth 0, elevation 20) and rendered at 256 px.

    <name>.png   RGBA cut-out (the alpha channel is used as the mask)
    <name>.jpg   the same object on a studio-like background with a soft shadow (exercises background
                 removal), JPEG quality 90

Usage: .venv/bin/python scripts/make_examples.py [--out assets/examples]
The object indices are above the range any data preset uses, so no example is a training object.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

from img2gs.cameras import FOV_DEG, INPUT_FILL, input_pose, intrinsics_from_fov
from img2gs.image_io import save_png
from img2gs.mesh_render import render_mesh
from img2gs.mesh_render.surface import prepare_surface, transformed
from img2gs.data.framing import frame_for_input_view, hull_points, unit_sphere_transform
from img2gs.data.procedural import procedural_object

EXAMPLES = {"mug": 9_000_000, "bottle": 9_000_000, "lamp": 9_000_000}
SIZE = 256
SEED = 0


def find_object(kind: str, start: int) -> tuple[int, object]:
    """The first procedural object of `kind` at or after index `start`."""
    for index in range(start, start + 500):
        obj = procedural_object(index, SEED)
        if obj.category == kind:
            return index, obj
    raise RuntimeError(f"no {kind} found after {start}")


def render_example(scene) -> torch.Tensor:
    surface = prepare_surface(scene, max_texture_size=4 * SIZE)
    hull = hull_points(surface.vertices)
    base = unit_sphere_transform(hull)
    c2w = input_pose().c2w()[None].double()
    K = intrinsics_from_fov(FOV_DEG, SIZE, SIZE).double()
    points = hull @ base[:3, :3].T + base[:3, 3]
    framing = frame_for_input_view(points, c2w[0].numpy(), K.numpy(), SIZE, INPUT_FILL, 1.08)
    light = np.array([0.4, -0.5, 0.75])
    render = render_mesh(transformed(surface, framing.matrix @ base), c2w, K, SIZE, SIZE,
                         light_dir=light / np.linalg.norm(light), ambient=0.4, supersample=3)
    return render.rgba[0].float()  # [SIZE, SIZE, 4]


def studio_photo(rgba: torch.Tensor) -> Image.Image:
    """Composite over a light vertical gradient with a soft contact shadow."""
    h, w = rgba.shape[:2]
    rows = np.linspace(0.96, 0.84, h)[:, None, None]
    background = np.broadcast_to(rows, (h, w, 3)).copy()
    alpha = rgba[..., 3].numpy()
    shadow = Image.fromarray((alpha * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(6))
    shadow = np.roll(np.asarray(shadow, dtype=np.float32) / 255.0, (6, 4), axis=(0, 1))[..., None]
    background = background * (1.0 - 0.25 * shadow)
    a = alpha[..., None]
    photo = rgba[..., :3].numpy() * a + background * (1.0 - a)
    return Image.fromarray((np.clip(photo, 0, 1) * 255 + 0.5).astype(np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "assets" / "examples")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, start in EXAMPLES.items():
        index, obj = find_object(name, start)
        rgba = render_example(obj.scene)
        save_png(args.out / f"{name}.png", rgba)
        studio_photo(rgba).save(args.out / f"{name}.jpg", quality=90)
        print(f"{name}: procedural object {index} -> {args.out / name}.png/.jpg")


if __name__ == "__main__":
    main()
