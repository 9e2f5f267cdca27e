"""Numba kernel of `shade` (shade.py has the rules): parallel over views, one covered sample at a time;
its pure-torch twin is _shade_torch.py."""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(parallel=True, cache=True, nogil=True)
def shade_kernel(face_id, bary, corners, face_texture, texels, offsets, sizes, facing_away, light, ambient,
                 rgb, normals):  # pragma: no cover - compiled
    n_views, height, width = face_id.shape
    for view in numba.prange(n_views):
        attr = np.empty(8)  # interpolated colour (3), normal (3), uv (2)
        for row in range(height):
            for col in range(width):
                f = face_id[view, row, col]
                if f < 0:
                    continue
                b0, b1, b2 = bary[view, row, col, 0], bary[view, row, col, 1], bary[view, row, col, 2]
                for k in range(8):
                    attr[k] = b0 * corners[f, 0, k] + b1 * corners[f, 1, k] + b2 * corners[f, 2, k]
                t = face_texture[f]
                if t >= 0:
                    multiply_texel(texels, offsets[t], sizes[t, 0], sizes[t, 1], attr)
                length = max(math.sqrt(attr[3] * attr[3] + attr[4] * attr[4] + attr[5] * attr[5]), 1e-12)
                sign = -1.0 if facing_away[view, f] else 1.0
                nx, ny, nz = sign * attr[3] / length, sign * attr[4] / length, sign * attr[5] / length
                lambert = max(nx * light[0] + ny * light[1] + nz * light[2], 0.0)
                factor = ambient + (1.0 - ambient) * lambert
                for c in range(3):
                    rgb[view, row, col, c] = min(max(attr[c] * factor, 0.0), 1.0)
                normals[view, row, col, 0] = nx
                normals[view, row, col, 1] = ny
                normals[view, row, col, 2] = nz



@numba.njit(inline="always", cache=True)
def multiply_texel(texels, offset, h, w, attr):  # pragma: no cover - compiled
    """attr[0:3] *= bilinear texel at uv = attr[6:8] (repeat wrapping; see texture.py)."""
    x = attr[6] * w - 0.5
    y = (1.0 - attr[7]) * h - 0.5
    x0, y0 = math.floor(x), math.floor(y)
    fx, fy = x - x0, y - y0
    c0, r0 = int(x0) % w, int(y0) % h
    c1, r1 = (c0 + 1) % w, (r0 + 1) % h
    for c in range(3):
        top = texels[offset + (r0 * w + c0) * 3 + c] * (1 - fx) + texels[offset + (r0 * w + c1) * 3 + c] * fx
        bottom = texels[offset + (r1 * w + c0) * 3 + c] * (1 - fx) + texels[offset + (r1 * w + c1) * 3 + c] * fx
        attr[c] *= top * (1 - fy) + bottom * fy
