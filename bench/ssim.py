"""SSIM speed: img2gs.metrics.ssim (separable Gaussian filter as two banded matmuls) against the same
SSIM with the filter as two conv2d calls (the textbook form, written out below as the reference).

Images: 16 x 128 x 128 x 3 (a 3DGS fit step's batch of views), forward + backward, one thread. Both are
timed in the same run, interleaved round by round; warm-up excluded; medians reported. Last line:
    RESULT matmul_ms=... conv2d_ms=... speedup=... max_abs_diff=...

Reproduce: .venv/bin/python bench/ssim.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import Tensor

from img2gs.metrics import gaussian_window, ssim


def ssim_conv2d(pred: Tensor, target: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Reference: mean SSIM per image [B] of [B, H, W, C] images, the filter as two conv2d calls."""
    b, h, w, c = pred.shape
    x = pred.permute(0, 3, 1, 2).reshape(-1, 1, h, w)  # [B*C, 1, H, W]
    y = target.permute(0, 3, 1, 2).reshape(-1, 1, h, w)
    g = gaussian_window(min(window, h, w), sigma, pred.dtype, pred.device)

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(F.conv2d(t, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))

    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y, cov = blur(x * x) - mu_x**2, blur(y * y) - mu_y**2, blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.reshape(b, -1).mean(1)


def time_fwd_bwd(fn, pred: Tensor, target: Tensor) -> float:
    pred.grad = None
    t0 = time.perf_counter()
    fn(pred, target).sum().backward()
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    print(f"# reproduce: .venv/bin/python bench/ssim.py --rounds {args.rounds}")
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    pred = torch.rand(16, 128, 128, 3, generator=gen, requires_grad=True)
    target = torch.rand(16, 128, 128, 3, generator=gen)
    with torch.no_grad():
        diff = float((ssim(pred, target) - ssim_conv2d(pred, target)).abs().max())
    for _ in range(3):  # warm-up
        time_fwd_bwd(ssim, pred, target), time_fwd_bwd(ssim_conv2d, pred, target)
    fast, slow = [], []
    for _ in range(args.rounds):
        fast.append(time_fwd_bwd(ssim, pred, target))
        slow.append(time_fwd_bwd(ssim_conv2d, pred, target))
    f, s = statistics.median(fast), statistics.median(slow)
    print(f"RESULT matmul_ms={f:.1f} conv2d_ms={s:.1f} speedup={s / f:.2f} max_abs_diff={diff:.1e}")


if __name__ == "__main__":
    main()
