"""Loading users' photos (with validation) and writing RGBA PNGs atomically.

Images inside img2gs are float32 tensors [H, W, C] in [0, 1], channels last, straight (not
premultiplied) alpha.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from scipy.ndimage import distance_transform_edt
from torch import Tensor

from img2gs.atomic import atomic_path
from img2gs.errors import OutputError
from img2gs.image_header import opened_image

SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}


def load_image(path: str | os.PathLike) -> Tensor:
    """Load a photo as an RGBA float tensor [H, W, 4] in [0, 1].

    Accepts whatever Pillow decodes (PNG, JPEG, WebP, TIFF, ...) in RGB, RGBA, grayscale (+alpha),
    palette (+transparency), 16-bit and CMYK modes; applies the EXIF orientation. Images without alpha
    get alpha = 1. The size is checked from the header before decoding. Raises ImageInputError with a
    message naming the problem.
    """
    with opened_image(Path(path)) as im:
        im.load()
        im = ImageOps.exif_transpose(im)
        return torch.from_numpy(_to_rgba_array(im))


def _to_rgba_array(im: Image.Image) -> np.ndarray:
    """[H, W, 4] float32 in [0, 1] from any Pillow mode."""
    if im.mode in SIXTEEN_BIT_MODES:
        gray = np.asarray(im, dtype=np.float32) / 65535.0
        gray = np.clip(gray, 0.0, 1.0)
        return np.stack([gray, gray, gray, np.ones_like(gray)], axis=-1)
    if im.mode == "F":
        gray = np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)
        return np.stack([gray, gray, gray, np.ones_like(gray)], axis=-1)
    if im.mode == "CMYK":
        im = im.convert("RGB")
    return np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0


def save_png(path: str | os.PathLike, image: Tensor) -> None:
    """Write an image [H, W, 3|4] in [0, 1] as an 8-bit PNG, atomically. NaN/Inf are refused."""
    image = image.detach().cpu().float()
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"expected an image [H, W, 3|4], got shape {tuple(image.shape)}")
    if not torch.isfinite(image).all():
        raise OutputError(f"refusing to write {path}: the image contains NaN or Inf values")
    array = (image.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8).numpy()
    with atomic_path(path) as tmp:
        Image.fromarray(array, mode="RGBA" if array.shape[-1] == 4 else "RGB").save(tmp, format="PNG")


def composite_on(image: Tensor, background: float | Tensor = 1.0) -> Tensor:
    """RGB [..., H, W, 3] of an RGBA image [..., H, W, 4] composited over `background` (scalar or [3])."""
    rgb, alpha = image[..., :3], image[..., 3:4]
    return rgb * alpha + torch.as_tensor(background, dtype=image.dtype) * (1.0 - alpha)


def fill_from_nearest(values: Tensor, valid: Tensor) -> Tensor:
    """values [R, R, ...] with every pixel outside `valid` [R, R] (bool, not all False) given the value of
    its nearest valid pixel (Euclidean distance transform)."""
    _, (rows, cols) = distance_transform_edt(~valid.cpu().numpy(), return_indices=True)
    return values[torch.from_numpy(rows), torch.from_numpy(cols)]


def resize_chw(x: Tensor, size: int) -> Tensor:
    """[..., C, H, W] -> [..., C, size, size]: area when shrinking, bilinear when growing."""
    if x.shape[-2:] == (size, size):
        return x
    lead = x.shape[:-3]
    flat = x.reshape(-1, *x.shape[-3:])
    if flat.shape[-1] > size:
        out = F.interpolate(flat, size=(size, size), mode="area")
    else:
        out = F.interpolate(flat, size=(size, size), mode="bilinear", align_corners=False)
    return out.reshape(*lead, *out.shape[-3:])


def resize_rgba(image: Tensor, size: int) -> Tensor:
    """RGBA image(s) [..., H, W, 4] (straight alpha) resized to [..., size, size, 4], filtered premultiplied
    (no dark fringes at silhouettes); RGB where alpha is 0 becomes white."""
    alpha = image[..., 3:4]
    premultiplied = torch.cat([image[..., :3] * alpha, alpha], dim=-1).movedim(-1, -3)  # [4, H, W]
    out = resize_chw(premultiplied, size).movedim(-3, -1).clamp(0.0, 1.0)  # [size, size, 4]
    a = out[..., 3:4]
    rgb = torch.where(a > 1e-6, (out[..., :3] / a.clamp_min(1e-6)).clamp(0.0, 1.0), torch.ones_like(out[..., :3]))
    return torch.cat([rgb, a], dim=-1)
