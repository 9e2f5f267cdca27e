"""Photo -> the view generator's input: object cut out, recentred and scaled by the framing rule.

    image = load_image("mug.jpg")          # [H, W, 4]
    cond = preprocess_photo(image, 256)    # [256, 256, 4], straight alpha

1. Alpha. A photo whose alpha channel is meaningful (some pixels transparent) is trusted as a
   cut-out. Otherwise, with `remove_background=True`, the background is removed from the photo's
   colours (`img2gs.pipeline.background`, no downloaded weights); with `remove_background=False`
   the whole photo is taken as the object (alpha = 1), e.g. for an image already framed by hand.
2. Framing rule (`img2gs.cameras`): the bounding box of alpha > 0.5 is centred in a square canvas
   and scaled so that its longer side spans `fill` (INPUT_FILL = 0.8) of the canvas side.
3. Resampling with Pillow's Lanczos filter (antialiased when shrinking) on premultiplied RGBA, so
   no backdrop colour bleeds into the edge; RGB where the result is transparent is set to white.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from img2gs.cameras import INPUT_FILL
from img2gs.errors import ImageInputError
from img2gs.pipeline.background import remove_background as background_alpha

# An alpha channel is used when at least this share of the pixels is (mostly) transparent; fewer
# are export artefacts (e.g. rounded corners) of an ordinary photo.
MIN_TRANSPARENT_FRACTION = 0.001
# The object's longer side must span at least this many pixels of the photo to be framed.
MIN_OBJECT_SIDE = 8
# Output alpha below half an 8-bit step is Lanczos ringing, not object.
ALPHA_FLOOR = 0.5 / 255.0


def preprocess_photo(
    image: Tensor,  # [H, W, 4] (or [H, W, 3]) float in [0, 1], straight alpha, from load_image
    size: int = 256,
    *,
    remove_background: bool = True,
    fill: float = INPUT_FILL,
) -> Tensor:  # [size, size, 4] float32, straight alpha
    """The framed RGBA input of the view generator; raises ImageInputError if no object is found."""
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"expected an image [H, W, 3|4], got shape {tuple(image.shape)}")
    if size < 16 or not 0.0 < fill <= 1.0:
        raise ValueError(f"need size >= 16 and 0 < fill <= 1, got size={size}, fill={fill}")
    array = image.detach().cpu().float().numpy()
    if not np.isfinite(array).all():
        raise ImageInputError("the image contains NaN or Inf values")
    rgb = np.clip(array[..., :3], 0.0, 1.0)
    alpha = np.clip(array[..., 3], 0.0, 1.0) if array.shape[-1] == 4 else np.ones(array.shape[:2], np.float32)
    if has_meaningful_alpha(alpha):
        pass
    elif remove_background:
        alpha = background_alpha(rgb)
    else:
        alpha = np.ones_like(alpha)
    return torch.from_numpy(frame_object(rgb, alpha, size, fill))


def has_meaningful_alpha(alpha: np.ndarray) -> bool:  # alpha [H, W]
    return float((alpha < 0.5).mean()) >= MIN_TRANSPARENT_FRACTION


def object_bbox(alpha: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), pixel edges, of alpha > 0.5; ImageInputError if the object is (nearly) empty."""
    rows, cols = np.flatnonzero((alpha > 0.5).any(axis=1)), np.flatnonzero((alpha > 0.5).any(axis=0))
    if len(rows) == 0:
        raise ImageInputError("no separable foreground: the alpha channel is fully transparent")
    x0, y0, x1, y1 = int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
    if max(x1 - x0, y1 - y0) < MIN_OBJECT_SIDE:
        raise ImageInputError(
            f"no separable foreground: the object is only {x1 - x0}x{y1 - y0} pixels "
            f"(at least {MIN_OBJECT_SIDE} pixels on its longer side needed)"
        )
    return x0, y0, x1, y1


def frame_object(
    rgb: np.ndarray,  # [H, W, 3] in [0, 1]
    alpha: np.ndarray,  # [H, W] in [0, 1]
    size: int,
    fill: float,
) -> np.ndarray:  # [size, size, 4] float32, straight alpha
    """Centre the object's bounding box in a square canvas, its longer side spanning `fill` of it."""
    x0, y0, x1, y1 = object_bbox(alpha)
    side = max(x1 - x0, y1 - y0) / fill  # canvas side in photo pixels
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    box = (cx - side / 2.0, cy - side / 2.0, cx + side / 2.0, cy + side / 2.0)
    # Crop the photo to the canvas (plus one pixel for the filter) and pad with transparency where
    # the canvas leaves the photo, so Pillow's box lies inside the image.
    h, w = alpha.shape
    bx0, by0 = math.floor(box[0]) - 1, math.floor(box[1]) - 1
    bx1, by1 = math.ceil(box[2]) + 1, math.ceil(box[3]) + 1
    premultiplied = np.concatenate([rgb * alpha[..., None], alpha[..., None]], axis=-1).astype(np.float32)
    canvas = np.zeros((by1 - by0, bx1 - bx0, 4), np.float32)
    sx0, sy0, sx1, sy1 = max(bx0, 0), max(by0, 0), min(bx1, w), min(by1, h)
    canvas[sy0 - by0 : sy1 - by0, sx0 - bx0 : sx1 - bx0] = premultiplied[sy0:sy1, sx0:sx1]
    local_box = (box[0] - bx0, box[1] - by0, box[2] - bx0, box[3] - by0)
    channels = [
        np.asarray(Image.fromarray(canvas[..., c], mode="F").resize((size, size), Image.LANCZOS, box=local_box))
        for c in range(4)
    ]
    out = np.stack(channels, axis=-1)  # premultiplied [size, size, 4]
    # Un-premultiply by the filtered (unclamped) alpha: where the colour is constant the Lanczos
    # overshoot of colour and alpha cancels exactly.
    visible = out[..., 3] >= ALPHA_FLOOR
    out_rgb = np.ones_like(out[..., :3])
    out_rgb[visible] = np.clip(out[visible, :3] / out[visible, 3:4], 0.0, 1.0)
    out_alpha = np.where(visible, np.clip(out[..., 3], 0.0, 1.0), 0.0)
    return np.concatenate([out_rgb, out_alpha[..., None]], axis=-1).astype(np.float32)
