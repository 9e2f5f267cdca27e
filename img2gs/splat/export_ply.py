"""The standard 3DGS `.ply` (graphdeco-inria layout), read by every splat viewer and by nerfstudio.

One `vertex` element, binary little-endian, all properties float32, in exactly this order:

    x y z  nx ny nz  f_dc_0 f_dc_1 f_dc_2  f_rest_0 .. f_rest_{3(K-1)-1}  opacity
    scale_0 scale_1 scale_2  rot_0 rot_1 rot_2 rot_3

Values are the raw parameters: opacity is a logit, scales are logs, rot is the quaternion w, x, y, z
(not normalised), normals are zero. `f_rest` is channel-major as in Inria's `save_ply`: all K-1
coefficients of red, then green, then blue (f_rest index = channel * (K-1) + coefficient).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from plyfile import PlyData, PlyElement, PlyParseError

from img2gs.atomic import atomic_path
from img2gs.errors import DataFormatError, OutputError
from img2gs.splat.gaussians import Gaussians
from img2gs.splat.ply_header import check_body_size, read_ply_header


def ply_property_names(sh_degree: int) -> list[str]:
    """The Inria property names, in order, for Gaussians of `sh_degree`."""
    n_rest = 3 * ((sh_degree + 1) ** 2 - 1)
    return (
        ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
        + [f"f_rest_{i}" for i in range(n_rest)]
        + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    )


def _columns(gaussians: Gaussians) -> np.ndarray:
    """[N, P] float32 matrix in `ply_property_names` order."""
    p = {k: v.detach().cpu().float() for k, v in gaussians.params.items()}
    n = len(gaussians)
    f_rest = p["shN"].transpose(1, 2).reshape(n, -1)  # [N, 3 * (K-1)], channel-major
    parts = [p["means"], torch.zeros(n, 3), p["sh0"][:, 0, :], f_rest, p["opacities"][:, None], p["scales"], p["quats"]]
    return torch.cat(parts, dim=1).numpy()


def save_ply(path: str | os.PathLike, gaussians: Gaussians) -> Path:
    """Write `gaussians` as an Inria-layout .ply, atomically. NaN/Inf are refused (OutputError)."""
    path = Path(path)
    columns = _columns(gaussians)
    if not np.isfinite(columns).all():
        raise OutputError(f"refusing to write {path}: the Gaussians contain NaN or Inf values")
    names = ply_property_names(gaussians.sh_degree)
    records = np.empty(columns.shape[0], dtype=[(name, "<f4") for name in names])
    for i, name in enumerate(names):
        records[name] = columns[:, i]
    with atomic_path(path) as tmp:
        PlyData([PlyElement.describe(records, "vertex")], text=False, byte_order="<").write(str(tmp))
    return path


def load_ply(path: str | os.PathLike) -> Gaussians:
    """Read an Inria-layout .ply back into Gaussians (raw parameters, float32, bit-exact).

    The header's vertex count is checked against the file size before plyfile reads anything; a file
    with no vertices or with NaN / Inf values is refused (DataFormatError)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such .ply file")
    header = read_ply_header(path)
    spec = header.element("vertex")
    if spec is None or spec.count == 0:
        raise DataFormatError(f"{path}: the .ply holds no Gaussians (no vertices)")
    check_body_size(path, header)
    try:
        vertex = PlyData.read(str(path))["vertex"]
    except (PlyParseError, OSError, ValueError, KeyError, IndexError, TypeError) as e:  # plyfile raises several kinds
        raise DataFormatError(f"{path}: not a readable 3DGS .ply ({e})") from None
    names = [prop.name for prop in vertex.properties]
    n_rest = sum(name.startswith("f_rest_") for name in names)
    k = n_rest // 3 + 1
    sh_degree = math.isqrt(k) - 1
    if n_rest % 3 or (sh_degree + 1) ** 2 != k or names != ply_property_names(sh_degree):
        raise DataFormatError(f"{path}: vertex properties are not the 3DGS (Inria) layout")
    try:
        data = np.stack([np.asarray(vertex[name], dtype=np.float32) for name in names], axis=1)
    except (TypeError, ValueError):  # e.g. a list property under a 3DGS name
        raise DataFormatError(f"{path}: vertex properties are not the 3DGS (Inria) layout") from None
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).any(axis=1).sum())
        raise DataFormatError(f"{path}: {bad:,} of {len(data):,} Gaussians have NaN or Inf values")
    t = torch.from_numpy(data)
    n = t.shape[0]
    i_rest = 9 + n_rest
    params = {
        "means": t[:, 0:3].clone(),
        "sh0": t[:, 6:9].reshape(n, 1, 3).clone(),
        "shN": t[:, 9:i_rest].reshape(n, 3, k - 1).transpose(1, 2).contiguous(),
        "opacities": t[:, i_rest].clone(),
        "scales": t[:, i_rest + 1 : i_rest + 4].clone(),
        "quats": t[:, i_rest + 4 : i_rest + 8].clone(),
    }
    return Gaussians(params)
