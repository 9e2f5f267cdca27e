"""Which 16x16 pixel tiles each projected Gaussian touches, and per-tile depth-sorted Gaussian lists.

As in gsplat (`isect_tiles`, `isect_offset_encode`), a Gaussian is evaluated only in the tiles that
its 3-sigma box [mean2d - radius, mean2d + radius] overlaps: tile columns
[floor((x - r) / 16), ceil((x + r) / 16)) clamped to the image, rows likewise. Both the `cpu` kernels
(through `intersect_tiles`) and the dense `torch` twin (through `tile_bounds`) use this one rule, so
they agree on which Gaussian can touch which pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from img2gs.splat._rasterize_constants import TILE_SIZE


def tile_grid(width: int, height: int) -> tuple[int, int]:
    """(tiles_x, tiles_y): number of tile columns and rows covering the image."""
    return (width + TILE_SIZE - 1) // TILE_SIZE, (height + TILE_SIZE - 1) // TILE_SIZE


def tile_bounds(
    means2d: Tensor,  # [C, N, 2]
    radii: Tensor,  # [C, N] int, 0 = culled
    width: int,
    height: int,
) -> Tensor:
    """Tile rectangles [C, N, 4] int64 (x_min, y_min, x_max, y_max), max exclusive; empty if culled."""
    tiles_x, tiles_y = tile_grid(width, height)
    with torch.no_grad():
        center = means2d.detach() / TILE_SIZE
        r = radii.to(means2d.dtype)[..., None] / TILE_SIZE
        lo = torch.floor(center - r).long()
        hi = torch.ceil(center + r).long()
        limit = torch.tensor([tiles_x, tiles_y], device=means2d.device)
        lo = torch.minimum(lo.clamp_min(0), limit)
        hi = torch.minimum(hi.clamp_min(0), limit)
        hi = torch.where((radii > 0)[..., None], hi, lo)  # culled: empty rectangle
        return torch.cat([lo, hi], dim=-1)


@dataclass
class TileIntersections:
    """Per-tile lists of Gaussians, front to back, for C cameras of tiles_y x tiles_x tiles each."""

    tile_offsets: Tensor  # [C * tiles_y * tiles_x + 1] int64: tile t's list is flatten_ids[off[t]:off[t+1]]
    flatten_ids: Tensor  # [M] int64 indices c * N + n into the flattened [C * N] Gaussians
    tiles_x: int
    tiles_y: int


def intersect_tiles(
    means2d: Tensor,  # [C, N, 2]
    radii: Tensor,  # [C, N]
    depths: Tensor,  # [C, N]
    width: int,
    height: int,
) -> TileIntersections:
    """Count the tiles of every Gaussian, emit one (camera, tile, depth rank) key per intersection
    and sort them, so each tile's list is contiguous and ordered by depth (ties by index)."""
    C, N = radii.shape
    tiles_x, tiles_y = tile_grid(width, height)
    n_tiles = tiles_x * tiles_y
    device = means2d.device
    with torch.no_grad():
        rect = tile_bounds(means2d, radii, width, height).reshape(C * N, 4)
        span_x, span_y = rect[:, 2] - rect[:, 0], rect[:, 3] - rect[:, 1]
        counts = span_x * span_y  # [C * N]
        gauss = torch.repeat_interleave(torch.arange(C * N, device=device), counts)  # [M]
        first = torch.cumsum(counts, 0) - counts
        local = torch.arange(gauss.numel(), device=device) - first[gauss]  # index within the rectangle
        tile_x = rect[gauss, 0] + local % span_x[gauss].clamp_min(1)
        tile_y = rect[gauss, 1] + local // span_x[gauss].clamp_min(1)
        camera = gauss // N
        order = torch.sort(depths.detach(), dim=1, stable=True).indices  # [C, N]
        rank = torch.empty_like(order)
        rank.scatter_(1, order, torch.arange(N, device=device).expand(C, N))
        tile = camera * n_tiles + tile_y * tiles_x + tile_x
        keys = tile * max(N, 1) + rank.reshape(-1)[gauss]
        flatten_ids = gauss[torch.sort(keys, stable=True).indices]
        per_tile = torch.bincount(tile, minlength=C * n_tiles)
        tile_offsets = torch.cat([torch.zeros(1, dtype=torch.long, device=device), torch.cumsum(per_tile, 0)])
    return TileIntersections(tile_offsets=tile_offsets, flatten_ids=flatten_ids, tiles_x=tiles_x, tiles_y=tiles_y)
