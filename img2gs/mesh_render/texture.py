"""Bilinear texture lookup with repeat wrapping (OpenGL's GL_REPEAT + GL_LINEAR).

Texture coordinates follow OBJ / glTF-as-loaded-by-trimesh: (0, 0) is the bottom-left corner of the
image, (1, 1) the top-right; texel (col i, row j) of an image whose row 0 is the top has its centre at
u = (i + 0.5) / w, v = 1 - (j + 0.5) / h.
"""

from __future__ import annotations

import numpy as np


def sample_bilinear(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """image [h, w, C], uv [P, 2] -> [P, C] bilinearly interpolated, coordinates wrapped."""
    h, w = image.shape[:2]
    x = uv[:, 0].astype(np.float64) * w - 0.5  # continuous texel column, centres at integers
    y = (1.0 - uv[:, 1].astype(np.float64)) * h - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    c0, r0 = x0.astype(np.int64) % w, y0.astype(np.int64) % h
    c1, r1 = (c0 + 1) % w, (r0 + 1) % h
    top = image[r0, c0] * (1 - fx) + image[r0, c1] * fx
    bottom = image[r1, c0] * (1 - fx) + image[r1, c1] * fx
    return (top * (1 - fy) + bottom * fy).astype(image.dtype)
