"""Numba kernels of the `cpu` backend: tile-based rasterization of 2D Gaussians, forward and backward.

The structure follows gsplat's CUDA kernels (`rasterize_to_pixels_fwd` / `_bwd`), with one CPU thread
per 16x16 tile instead of one CUDA block: `prange` runs over the C * tiles_y * tiles_x tiles, and a
tile walks its depth-sorted Gaussian list (tiles.py) once, each Gaussian against all of the tile's
pixels, which is what the 256 threads of a CUDA block do in lock-step.

Forward, per pixel (front to back, gsplat's rules; see _rasterize_torch.py for the maths):
    alpha = min(0.999, o exp(-sigma)), skipped if sigma < 0 or alpha < 1/255; stop (without this
    Gaussian) once T (1 - alpha) <= 1e-4; colour += c alpha T; T *= 1 - alpha.
It stores the final transmittance T_N and `n_contrib` = 1 + the tile-list position of the last
Gaussian that contributed.

Backward, per pixel, back to front from the last contributor, recovering T_i = T_{i+1} / (1 - alpha_i)
and keeping S = sum_{j>i} c_j alpha_j T_j (colour of what lies behind), with
    dL/dalpha_i = sum_k (c_ik T_i - S_k / (1 - alpha_i)) dL/dC_k
                  + T_N / (1 - alpha_i) (dL/dA - sum_k bg_k dL/dC_k)           (A = 1 - T_N)
    dL/dc_i     = alpha_i T_i dL/dC
    dL/do_i     = exp(-sigma) dL/dalpha_i,  dL/dsigma_i = -alpha_i dL/dalpha_i   (unless clamped at 0.999)
    dL/dmean2d  = dL/dsigma conic d,  dL/dconic = dL/dsigma (dx^2 / 2, dx dy, dy^2 / 2)
    dL/dbg      = T_N dL/dC
Per-Gaussian sums over a tile's pixels are written to one row per (tile, Gaussian) intersection;
_rasterize_numba.py adds the rows of each Gaussian together (no atomics, deterministic).

Pixels far from a Gaussian are not visited: alpha >= 1/255 needs sigma <= ln(255 o), an ellipse,
so each tile row only walks the columns where that ellipse (grown by a safety margin) crosses the
row (`_row_span`). Pixels outside it would be skipped by the 1/255 rule anyway, so this changes no
result, only the work (gsplat's CUDA kernels evaluate every pixel of the tile instead).

Inputs and outputs are float64 arrays (_rasterize_numba.py converts), so each kernel compiles once.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from img2gs.splat._rasterize_constants import ALPHA_MAX, ALPHA_MIN, T_MIN, TILE_SIZE

# Layout of a row of the per-intersection gradients: mean2d (2), conic (3), opacity (1), colour (D).
G_MEAN, G_CONIC, G_OPAC, G_COLOR = 0, 2, 5, 6


SPAN_MARGIN_SIGMA = 1e-3  # sigma units: far above float64 rounding of the span arithmetic


@njit(fastmath=False, cache=True, inline="always")
def _sigma_cut(o):
    """Largest sigma at which a Gaussian of opacity o can still reach alpha >= 1/255 (-1: never)."""
    if o < ALPHA_MIN:  # alpha <= o everywhere (sigma >= 0)
        return -1.0
    return math.log(o / ALPHA_MIN) + SPAN_MARGIN_SIGMA


@njit(fastmath=False, cache=True, inline="always")
def _row_span(mx, dy, a, b, c, cut, x0, tw):
    """Columns [lo, hi) of a tile row (pixel centres x0 + i + 0.5, offset dy = my - py) where
    sigma = 0.5 (a dx^2 + c dy^2) + b dx dy can be <= cut, with one pixel of margin each side."""
    det = a * c - b * b
    if a <= 0.0 or det <= 0.0:  # not positive definite: no shortcut
        return 0, tw
    rest = cut - 0.5 * det / a * dy * dy  # cut minus the row's minimum of sigma
    if rest < 0.0:
        return 0, 0
    half = math.sqrt(2.0 * rest / a)
    centre = mx + b * dy / a - x0 - 0.5  # column index (fractional) where sigma is smallest
    lo = max(0, int(math.floor(centre - half)) - 1)
    hi = min(tw, int(math.ceil(centre + half)) + 2)
    return lo, max(lo, hi)


@njit(parallel=True, fastmath=False, cache=True)
def rasterize_fwd(
    means2d,  # [C*N, 2]
    conics,  # [C*N, 3]
    colors,  # [C*N, D]
    opacities,  # [C*N]
    backgrounds,  # [C, D] (zeros for none)
    tile_offsets,  # [C*tiles_y*tiles_x + 1] int64
    flatten_ids,  # [M] int64
    tiles_x,
    tiles_y,
    width,
    height,
):
    """Returns colours [C, H, W, D], final transmittance [C, H, W] and n_contrib [C, H, W] int32."""
    C, D = backgrounds.shape
    n_tiles = tiles_x * tiles_y
    out_color = np.empty((C, height, width, D), dtype=np.float64)
    out_T = np.empty((C, height, width), dtype=np.float64)
    n_contrib = np.zeros((C, height, width), dtype=np.int32)
    for t in prange(C * n_tiles):
        cam, ty, tx = t // n_tiles, (t % n_tiles) // tiles_x, t % tiles_x
        x0, y0 = tx * TILE_SIZE, ty * TILE_SIZE
        tw, th = min(TILE_SIZE, width - x0), min(TILE_SIZE, height - y0)
        P = tw * th
        T = np.ones(P)
        acc = np.zeros((P, D))
        last = np.zeros(P, dtype=np.int32)
        done = np.zeros(P, dtype=np.bool_)
        n_done = 0
        start, end = tile_offsets[t], tile_offsets[t + 1]
        for j in range(start, end):
            if n_done == P:
                break
            g = flatten_ids[j]
            mx, my = means2d[g, 0], means2d[g, 1]
            a, b, c = conics[g, 0], conics[g, 1], conics[g, 2]
            o = opacities[g]
            cut = _sigma_cut(o)
            if cut < 0.0:
                continue
            for r in range(th):
                dy = my - (y0 + r + 0.5)
                lo, hi = _row_span(mx, dy, a, b, c, cut, x0, tw)
                for i in range(lo, hi):
                    p = r * tw + i
                    if done[p]:
                        continue
                    dx = mx - (x0 + i + 0.5)
                    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
                    if sigma < 0.0:
                        continue
                    alpha = min(ALPHA_MAX, o * math.exp(-sigma))
                    if alpha < ALPHA_MIN:
                        continue
                    next_T = T[p] * (1.0 - alpha)
                    if next_T <= T_MIN:
                        done[p] = True
                        n_done += 1
                        continue
                    w = alpha * T[p]
                    for k in range(D):
                        acc[p, k] += colors[g, k] * w
                    T[p] = next_T
                    last[p] = j - start + 1
        for p in range(P):
            y, x = y0 + p // tw, x0 + p % tw
            for k in range(D):
                out_color[cam, y, x, k] = acc[p, k] + T[p] * backgrounds[cam, k]
            out_T[cam, y, x] = T[p]
            n_contrib[cam, y, x] = last[p]
    return out_color, out_T, n_contrib


@njit(parallel=True, fastmath=False, cache=True)
def rasterize_bwd(
    means2d,  # [C*N, 2]
    conics,  # [C*N, 3]
    colors,  # [C*N, D]
    opacities,  # [C*N]
    backgrounds,  # [C, D]
    tile_offsets,  # [C*tiles_y*tiles_x + 1]
    flatten_ids,  # [M]
    tiles_x,
    tiles_y,
    width,
    height,
    out_T,  # [C, H, W] final transmittance from the forward pass
    n_contrib,  # [C, H, W]
    v_color,  # [C, H, W, D] dL/d(rendered colour)
    v_alpha,  # [C, H, W] dL/d(rendered alpha)
):
    """Returns per-intersection gradients [M, 6 + D] (layout G_*) and per-tile dL/dbg [C*tiles, D]."""
    C, D = backgrounds.shape
    n_tiles = tiles_x * tiles_y
    v_isect = np.zeros((flatten_ids.shape[0], G_COLOR + D))
    v_bg_tiles = np.zeros((C * n_tiles, D))
    for t in prange(C * n_tiles):
        cam, ty, tx = t // n_tiles, (t % n_tiles) // tiles_x, t % tiles_x
        x0, y0 = tx * TILE_SIZE, ty * TILE_SIZE
        tw, th = min(TILE_SIZE, width - x0), min(TILE_SIZE, height - y0)
        P = tw * th
        T = np.empty(P)
        T_final = np.empty(P)
        last = np.empty(P, dtype=np.int32)
        vc = np.empty((P, D))
        va = np.empty(P)  # dL/dA - sum_k bg_k dL/dC_k: what 1 / (1 - alpha_i) T_N multiplies
        behind = np.zeros((P, D))
        g_color = np.empty(D)
        max_last = 0
        for p in range(P):
            y, x = y0 + p // tw, x0 + p % tw
            T[p] = out_T[cam, y, x]
            T_final[p] = T[p]
            last[p] = n_contrib[cam, y, x]
            max_last = max(max_last, last[p])
            va[p] = v_alpha[cam, y, x]
            for k in range(D):
                vc[p, k] = v_color[cam, y, x, k]
                va[p] -= backgrounds[cam, k] * vc[p, k]
                v_bg_tiles[t, k] += T[p] * vc[p, k]
        start = tile_offsets[t]
        for j in range(start + max_last - 1, start - 1, -1):
            g = flatten_ids[j]
            mx, my = means2d[g, 0], means2d[g, 1]
            a, b, c = conics[g, 0], conics[g, 1], conics[g, 2]
            o = opacities[g]
            g_mx = g_my = g_a = g_b = g_c = g_o = 0.0
            g_color[:] = 0.0
            cut = _sigma_cut(o)
            if cut < 0.0:
                continue
            for r in range(th):
                dy = my - (y0 + r + 0.5)
                lo, hi = _row_span(mx, dy, a, b, c, cut, x0, tw)
                for i in range(lo, hi):
                    p = r * tw + i
                    if j - start >= last[p]:
                        continue
                    dx = mx - (x0 + i + 0.5)
                    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
                    if sigma < 0.0:
                        continue
                    vis = math.exp(-sigma)
                    alpha = min(ALPHA_MAX, o * vis)
                    if alpha < ALPHA_MIN:
                        continue
                    ra = 1.0 / (1.0 - alpha)
                    T[p] *= ra  # transmittance in front of this Gaussian
                    fac = alpha * T[p]
                    v_a = T_final[p] * ra * va[p]
                    for k in range(D):
                        g_color[k] += fac * vc[p, k]
                        v_a += (colors[g, k] * T[p] - behind[p, k] * ra) * vc[p, k]
                        behind[p, k] += colors[g, k] * fac
                    if o * vis <= ALPHA_MAX:
                        v_sigma = -o * vis * v_a
                        g_a += 0.5 * v_sigma * dx * dx
                        g_b += v_sigma * dx * dy
                        g_c += 0.5 * v_sigma * dy * dy
                        g_mx += v_sigma * (a * dx + b * dy)
                        g_my += v_sigma * (b * dx + c * dy)
                        g_o += vis * v_a
            v_isect[j, G_MEAN] = g_mx
            v_isect[j, G_MEAN + 1] = g_my
            v_isect[j, G_CONIC] = g_a
            v_isect[j, G_CONIC + 1] = g_b
            v_isect[j, G_CONIC + 2] = g_c
            v_isect[j, G_OPAC] = g_o
            for k in range(D):
                v_isect[j, G_COLOR + k] = g_color[k]
    return v_isect, v_bg_tiles
