"""Real spherical harmonics of degree 0..3: view-dependent colour of 3D Gaussians.

Basis and sign conventions are those of 3D Gaussian Splatting (Kerbl et al. 2023, `eval_sh` in its
`utils/sh_utils.py`) and gsplat's `spherical_harmonics`: coefficient k of a Gaussian multiplies the
k-th real SH basis function Y_k evaluated at the unit view direction (x, y, z), with
k = l^2 + l + m for band l and order m.

The rasterizer adds 0.5 and clamps at 0 afterwards (`sh_to_rgb`), as gsplat's `rasterization` does,
so a degree-0 coefficient c maps to the colour C0 * c + 0.5 (the "RGB2SH" convention of 3DGS).
"""

from __future__ import annotations

import torch
from torch import Tensor

# Normalisation constants of the real SH basis, band by band.
C0 = 0.28209479177387814
C1 = 0.4886025119029199
C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)
MAX_SH_DEGREE = 3


def num_sh_bases(degree: int) -> int:
    """Number of SH coefficients of a colour of degree `degree`: (degree + 1)^2."""
    return (degree + 1) ** 2


def sh_basis(degree: int, dirs: Tensor) -> Tensor:
    """The real SH basis [..., (degree + 1)^2] at unit directions `dirs` [..., 3]."""
    if not 0 <= degree <= MAX_SH_DEGREE:
        raise ValueError(f"sh_degree must be in 0..{MAX_SH_DEGREE}, got {degree}")
    x, y, z = dirs.unbind(-1)
    bases = [torch.full_like(x, C0)]
    if degree >= 1:
        bases += [-C1 * y, C1 * z, -C1 * x]
    if degree >= 2:
        xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
        bases += [C2[0] * xy, C2[1] * yz, C2[2] * (2.0 * zz - xx - yy), C2[3] * xz, C2[4] * (xx - yy)]
    if degree >= 3:
        bases += [
            C3[0] * y * (3.0 * xx - yy),
            C3[1] * xy * z,
            C3[2] * y * (4.0 * zz - xx - yy),
            C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy),
            C3[4] * x * (4.0 * zz - xx - yy),
            C3[5] * z * (xx - yy),
            C3[6] * x * (xx - 3.0 * yy),
        ]
    return torch.stack(bases, dim=-1)


def eval_sh(
    degree: int,
    dirs: Tensor,  # [..., 3] view directions (normalised here)
    coeffs: Tensor,  # [..., K, 3] with K >= (degree + 1)^2; extra coefficients are ignored
) -> Tensor:
    """Raw SH colour [..., 3] = sum_k Y_k(dirs / |dirs|) * coeffs[..., k, :] (no offset, no clamp)."""
    k = num_sh_bases(degree)
    if coeffs.shape[-2] < k:
        raise ValueError(f"SH degree {degree} needs {k} coefficients, got {coeffs.shape[-2]}")
    unit = torch.nn.functional.normalize(dirs, dim=-1)
    return (sh_basis(degree, unit)[..., None] * coeffs[..., :k, :]).sum(dim=-2)


def sh_to_rgb(
    degree: int,
    dirs: Tensor,  # [..., 3]
    coeffs: Tensor,  # [..., K, 3]
) -> Tensor:
    """Displayed colour [..., 3] = max(eval_sh + 0.5, 0), as in gsplat's `rasterization`."""
    return torch.clamp_min(eval_sh(degree, dirs, coeffs) + 0.5, 0.0)


def rgb_to_sh0(rgb: Tensor) -> Tensor:
    """Degree-0 coefficient [..., 3] that renders as `rgb` [..., 3] (inverse of sh_to_rgb at degree 0)."""
    return (rgb - 0.5) / C0


def sh0_to_rgb(sh0: Tensor) -> Tensor:
    """The colour [..., 3] of degree-0 coefficients [..., 3] (before sh_to_rgb's clamp)."""
    return sh0 * C0 + 0.5
