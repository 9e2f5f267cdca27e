"""Image metrics shared by the splat loss, `fit`, `eval views` and the pipeline's quality figure, and the
geometry metric of the mesh benches (Chamfer distance; scipy and trimesh imported where used).

Images are [..., H, W, C] float in [0, 1] (channels last), as everywhere in img2gs. SSIM follows
Wang et al. 2004 with an 11x11 Gaussian window (sigma 1.5), C1 = 0.01^2, C2 = 0.03^2, computed over
the valid region (no padding) as in scikit-image with `gaussian_weights=True,
use_sample_covariance=False`; it is differentiable and used in the 3DGS loss.
"""

from __future__ import annotations

import torch
from torch import Tensor


def psnr(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """PSNR in dB per image [...] of images [..., H, W, C] in [0, 1]; `mask` [..., H, W, 1] optional."""
    err = (pred - target) ** 2
    if mask is None:
        mse = err.mean(dim=(-3, -2, -1))
    else:
        mask = mask.expand_as(err)
        mse = (err * mask).sum(dim=(-3, -2, -1)) / mask.sum(dim=(-3, -2, -1)).clamp_min(1e-8)
    return -10.0 * torch.log10(mse.clamp_min(1e-12))


def gaussian_window(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2.0
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()  # [size]


def _valid_filter_matrix(g: Tensor, n: int) -> Tensor:
    """[n - w + 1, n] banded matrix M with (M @ v)[i] = sum_k g[k] v[i + k]: 1-D filtering, valid region."""
    offset = torch.arange(n, device=g.device) - torch.arange(n - len(g) + 1, device=g.device)[:, None]  # j - i
    inside = (offset >= 0) & (offset < len(g))
    return torch.where(inside, g[offset.clamp(0, len(g) - 1)], torch.zeros((), dtype=g.dtype, device=g.device))


def ssim_map(pred: Tensor, target: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """SSIM map [..., H-w+1, W-w+1, C] of images [..., H, W, C] in [0, 1] (valid region only)."""
    if pred.shape != target.shape:
        raise ValueError(f"shape mismatch {tuple(pred.shape)} vs {tuple(target.shape)}")
    lead, (h, w, c) = pred.shape[:-3], pred.shape[-3:]
    window = min(window, h, w)
    x = pred.reshape(-1, h, w, c).permute(0, 3, 1, 2)  # [B, C, H, W]
    y = target.reshape(-1, h, w, c).permute(0, 3, 1, 2)
    g = gaussian_window(window, sigma, pred.dtype, pred.device)
    rows, cols = _valid_filter_matrix(g, h), _valid_filter_matrix(g, w)  # [H', H], [W', W]

    def blur(t: Tensor) -> Tensor:  # separable Gaussian filter as two matmuls (3x faster than conv2d: bench/ssim.py)
        return rows @ t @ cols.T  # [B, C, H', W']

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    s = s.permute(0, 2, 3, 1)  # [B, h', w', C]
    return s.reshape(*lead, *s.shape[1:])


def ssim(pred: Tensor, target: Tensor) -> Tensor:
    """Mean SSIM per image [...] of images [..., H, W, C] in [0, 1]."""
    return ssim_map(pred, target).mean(dim=(-3, -2, -1))


def mask_iou(pred: Tensor, truth: Tensor) -> Tensor:
    """Intersection over union per mask [...] of boolean masks [..., H, W] (1 where both are empty)."""
    inter = (pred & truth).sum(dim=(-2, -1))
    union = (pred | truth).sum(dim=(-2, -1))
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones((), dtype=torch.float32, device=pred.device))


def fuzz_fraction(alpha: Tensor, truth: Tensor, border_px: int = 2, low: float = 0.05, high: float = 0.95) -> Tensor:
    """Per image [...], the fraction of the image's pixels where a render's `alpha` [..., H, W] is
    half-transparent (low < alpha < high) farther than `border_px` pixels outside the true silhouette
    `truth` [..., H, W] bool (square neighbourhood): the fur and floaters a viewer shows around an
    object, not the anti-aliased rim itself."""
    lead, (h, w) = truth.shape[:-2], truth.shape[-2:]
    k = 2 * border_px + 1
    near = torch.nn.functional.max_pool2d(truth.reshape(-1, 1, h, w).float(), k, stride=1, padding=border_px)
    far_outside = near.reshape(*lead, h, w) < 0.5
    fuzzy = (alpha > low) & (alpha < high)
    return (fuzzy & far_outside).float().mean(dim=(-2, -1))


# --- geometry -------------------------------------------------------------------------------------


def chamfer_distance(a: Tensor, b: Tensor) -> float:
    """Symmetric Chamfer distance of point sets a [P, 3] and b [Q, 3]:
    (mean_a min_b |a - b| + mean_b min_a |a - b|) / 2, in scene units (not squared)."""
    from scipy.spatial import cKDTree

    a_np, b_np = a.detach().cpu().double().numpy(), b.detach().cpu().double().numpy()
    d_ab, _ = cKDTree(b_np).query(a_np, k=1)
    d_ba, _ = cKDTree(a_np).query(b_np, k=1)
    return float((d_ab.mean() + d_ba.mean()) / 2.0)


def surface_chamfer(
    mesh, reference, n_query: int = 20_000, n_dense: int = 400_000, seed: int = 0,
) -> float:
    """Symmetric Chamfer distance between two surfaces, as `chamfer_distance` but each direction
    measures `n_query` points sampled on one surface against `n_dense` points sampled on the other,
    which approximates the point-to-surface distance. (With equal sample counts the distance between
    two samplings of the *same* surface is ~0.5 / sqrt(density): 0.008 for the synthetic scene at
    20k points; at 400k dense points the floor is ~0.002.)"""
    import numpy as np
    import trimesh
    from scipy.spatial import cKDTree

    def sample(m, n: int, s: int):  # trimesh.Trimesh -> [n, 3] float64
        return np.asarray(trimesh.sample.sample_surface(m, n, seed=s)[0], dtype=np.float64)

    d_mesh, _ = cKDTree(sample(reference, n_dense, seed + 1)).query(sample(mesh, n_query, seed), k=1)
    d_ref, _ = cKDTree(sample(mesh, n_dense, seed + 3)).query(sample(reference, n_query, seed + 2), k=1)
    return float((d_mesh.mean() + d_ref.mean()) / 2.0)
