import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from img2gs.metrics import fuzz_fraction, mask_iou, psnr, ssim


def test_psnr_known_value():
    a = torch.zeros(2, 8, 8, 3)
    b = torch.full((2, 8, 8, 3), 0.1)
    torch.testing.assert_close(psnr(a, b), torch.tensor([20.0, 20.0]))


def test_psnr_mask_ignores_masked_pixels():
    a, b = torch.zeros(8, 8, 3), torch.zeros(8, 8, 3)
    b[:4] = 1.0
    mask = torch.zeros(8, 8, 1)
    mask[4:] = 1.0
    assert psnr(a, b, mask) > 100


@pytest.mark.parametrize("noise", [0.02, 0.2])
def test_ssim_matches_scikit_image(noise):
    rng = np.random.default_rng(0)
    a = rng.random((32, 40, 3)).astype(np.float32)
    a = (a + np.roll(a, 1, 0) + np.roll(a, 1, 1)) / 3  # some structure
    b = np.clip(a + noise * rng.standard_normal(a.shape).astype(np.float32), 0, 1)
    ref = structural_similarity(a, b, channel_axis=-1, data_range=1.0, gaussian_weights=True,
                                sigma=1.5, use_sample_covariance=False)
    assert ssim(torch.from_numpy(a), torch.from_numpy(b)).item() == pytest.approx(ref, abs=2e-3)


def test_ssim_identity_and_gradient():
    a = torch.rand(2, 16, 16, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    torch.testing.assert_close(ssim(a.detach(), a.detach()), torch.ones(2))
    (1 - ssim(a, torch.rand(2, 16, 16, 3))).sum().backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0


def test_mask_iou_known_values():
    a = torch.zeros(3, 4, 4, dtype=torch.bool)
    b = torch.zeros(3, 4, 4, dtype=torch.bool)
    a[0, :2], b[0, 1:3] = True, True  # 4 shared pixels of 12 covered
    a[1], b[1] = True, True  # identical
    # mask 2: both empty
    torch.testing.assert_close(mask_iou(a, b), torch.tensor([1 / 3, 1.0, 1.0]))


def test_fuzz_counts_half_transparent_pixels_beyond_the_silhouettes_border_only():
    truth = torch.zeros(1, 20, 20, dtype=torch.bool)
    truth[0, 5:15, 5:15] = True
    alpha = truth.float().clone()
    assert float(fuzz_fraction(alpha, truth)) == 0.0  # a clean render
    alpha[0, 5:15, 3:5] = 0.5  # a soft rim within 2 px of the edge: not fur
    alpha[0, 8, 8] = 0.5  # half-transparent inside the object: not fur either
    assert float(fuzz_fraction(alpha, truth)) == 0.0
    alpha[0, 0:2, 0:10] = 0.3  # a floater in the empty background
    alpha[0, 10, 17] = 0.99  # opaque beyond the border: not half-transparent, not counted here
    assert float(fuzz_fraction(alpha, truth)) == pytest.approx(20 / 400)
    alpha[0, 10, 18] = 0.04  # below the low threshold
    assert float(fuzz_fraction(alpha, truth)) == pytest.approx(20 / 400)
