"""Colours and small generated textures for procedural objects: the look of household products
(plain plastics, painted metal, wood, printed labels, stripes, checks, gradients, dots).

Everything takes an explicit `numpy.random.Generator`; colours are float RGB in [0, 1], textures
uint8 [size, size, 3] images (row 0 at the top), tiled with repeat wrapping by the renderer.
"""

from __future__ import annotations

import colorsys

import numpy as np

PALETTES = ("vivid", "pastel", "dark", "neutral", "wood", "metal")
PATTERNS = ("stripes", "checker", "gradient", "dots", "band", "wood_grain", "noise")


def random_color(rng: np.random.Generator, palette: str | None = None) -> np.ndarray:
    """[3] RGB of a colour drawn from a named palette (random palette if None)."""
    palette = palette or PALETTES[rng.integers(len(PALETTES))]
    hue = rng.random()
    if palette == "vivid":
        return _hsv(hue, rng.uniform(0.6, 1.0), rng.uniform(0.55, 1.0))
    if palette == "pastel":
        return _hsv(hue, rng.uniform(0.15, 0.4), rng.uniform(0.8, 1.0))
    if palette == "dark":
        return _hsv(hue, rng.uniform(0.2, 0.8), rng.uniform(0.08, 0.35))
    if palette == "neutral":
        grey = rng.uniform(0.1, 0.95)
        return np.clip(grey + rng.normal(0, 0.02, 3), 0, 1)
    if palette == "wood":
        return _hsv(rng.uniform(0.05, 0.11), rng.uniform(0.4, 0.75), rng.uniform(0.3, 0.8))
    if palette == "metal":
        return _hsv(rng.uniform(0.05, 0.6), rng.uniform(0.0, 0.15), rng.uniform(0.5, 0.9))
    raise ValueError(f"unknown palette {palette!r}")


def contrasting_color(rng: np.random.Generator, color: np.ndarray) -> np.ndarray:
    """A colour that stands out against `color` (lightness at least 0.3 apart or a shifted hue)."""
    for _ in range(8):
        other = random_color(rng)
        if abs(_luma(other) - _luma(color)) > 0.3 or np.abs(other - color).max() > 0.5:
            return other
    return 1.0 - color


def random_texture(
    rng: np.random.Generator, base: np.ndarray, size: int = 64, pattern: str | None = None
) -> np.ndarray:
    """uint8 [size, size, 3] pattern texture in `base` and a contrasting colour."""
    pattern = pattern or PATTERNS[rng.integers(len(PATTERNS))]
    other = contrasting_color(rng, base)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / size  # [0, 1) over one tile
    if pattern == "stripes":
        count = rng.integers(1, 5)  # whole stripes per tile, so the texture tiles seamlessly
        coord = (y, x, x + y)[rng.integers(3)]  # horizontal, vertical, diagonal
        mask = ((coord * count * 2) % 2) < rng.uniform(0.6, 1.4)
    elif pattern == "checker":
        n = rng.integers(1, 5)
        mask = ((np.floor(x * 2 * n) + np.floor(y * 2 * n)) % 2) == 0
    elif pattern == "gradient":
        t = 0.5 - 0.5 * np.cos(2 * np.pi * y)  # periodic so it tiles
        return _to_uint8(base * (1 - t[..., None]) + other * t[..., None])
    elif pattern == "dots":
        n = rng.integers(2, 5)
        cx, cy = (x * n) % 1.0 - 0.5, (y * n) % 1.0 - 0.5
        mask = np.hypot(cx, cy) > rng.uniform(0.15, 0.35)
    elif pattern == "band":  # a printed label band around the middle
        lo = rng.uniform(0.25, 0.45)
        mask = ~((y > lo) & (y < 1 - lo))
        stripe = (np.abs(y - 0.5) < 0.03) & ~mask
        image = np.where(mask[..., None], base, other)
        image[stripe] = contrasting_color(rng, other)
        return _to_uint8(image)
    elif pattern == "wood_grain":
        freq = rng.integers(4, 10)
        wobble = 0.05 * np.sin(2 * np.pi * (x * 2 + rng.random()))
        t = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (y + wobble))
        dark = base * rng.uniform(0.55, 0.8)
        return _to_uint8(base * (1 - 0.6 * t[..., None]) + dark * 0.6 * t[..., None])
    elif pattern == "noise":
        coarse = rng.random((8, 8))
        smooth = coarse[(y * 8).astype(int) % 8, (x * 8).astype(int) % 8]
        t = rng.uniform(0.1, 0.35) * (smooth - 0.5)
        return _to_uint8(base[None, None] * (1 + t[..., None]))
    else:
        raise ValueError(f"unknown pattern {pattern!r}")
    return _to_uint8(np.where(mask[..., None], base, other))


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h, s, v))


def _luma(color: np.ndarray) -> float:
    return float(0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2])


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
