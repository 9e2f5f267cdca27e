"""Background removal without downloaded weights, for product photos on a plain or studio backdrop.

1. Backdrop model: the pixels of a thin ring along the image border are clustered in CIE Lab
   (k-means). A backdrop surrounds the object, so only clusters present on at least two sides of the
   frame are kept (a colour on one side only is the object touching the frame). Each becomes a
   Gaussian whose covariance gets a noise floor of one just-noticeable colour difference. A pixel is
   *backdrop-like* when it lies inside the 99.9 % ellipsoid (chi-square, 3 dof) of some cluster.
2. GrabCut (OpenCV) is seeded with probable background = backdrop-like pixels (certain background
   where they are on the border ring) and probable foreground = the rest, and refines both.
3. Clean-up: keep the main connected component(s), fill every enclosed hole, feather the edge with a
   small Gaussian. Filling is deliberate: a specular highlight on a white backdrop has the backdrop's
   colour, so colour cannot tell it from a see-through opening (a mug handle gets filled too; give
   an RGBA cut-out for such objects).

A picture without a separable foreground raises ImageInputError("no separable foreground: ..."):
nothing differs from the border colours (a uniform or noisy picture, an object filling the frame),
or the object found covers less than MIN_FOREGROUND_FRACTION or more than MAX_FOREGROUND_FRACTION of
the image, or most of it looks like the backdrop. Segmentation runs at most SEGMENT_MAX_SIDE pixels
per side; the soft mask is upsampled to the photo's resolution.

Known limit: an object whose colour matches the backdrop's (a beige object on a beige gradient) loses
the matching parts; colour is all this method sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from img2gs.errors import ImageInputError

SEGMENT_MAX_SIDE = 512
# Width of the border ring that samples the backdrop, as a fraction of the shorter side (>= 2 px).
BORDER_FRACTION = 0.03
BACKDROP_CLUSTERS = 5
# A colour cluster is present on a side of the frame if it holds this share of that side's ring.
MIN_CLUSTER_SHARE = 0.05
# Noise floor of each colour cluster: one just-noticeable difference, Delta E (CIE76) ~ 2.3.
JND_DELTA_E = 2.3
# Squared Mahalanobis radius of the 99.9 % ellipsoid of a 3-D Gaussian (chi-square quantile, 3 dof).
CHI2_3DOF_999 = 16.266
GRABCUT_ITERATIONS = 5
# Connected components smaller than this fraction of the largest one are dropped.
KEEP_COMPONENT_RATIO = 0.1
# The object must cover between 0.5 % (a 36x36 blob in a 512x512 photo) and 90 % of the image; the
# border ring alone is ~12 % of it, so more than 90 % means the border was not a backdrop.
MIN_FOREGROUND_FRACTION = 0.005
MAX_FOREGROUND_FRACTION = 0.9
# At least this share of the object's pixels must lie outside the backdrop colour model (which holds
# 99.9 % of the backdrop's own pixels): an object mostly inside it is indistinguishable from backdrop.
MIN_DISTINCT_SHARE = 0.5
FEATHER_SIGMA_PX = 0.7  # at segmentation resolution


@dataclass(frozen=True)
class BackdropModel:
    """Gaussian colour clusters (CIE Lab) of the image border."""

    means: np.ndarray  # [K, 3]
    inv_covs: np.ndarray  # [K, 3, 3]

    def mahalanobis_sq(self, lab: np.ndarray) -> np.ndarray:  # lab [..., 3] -> [...] distance to the nearest cluster
        d = lab[..., None, :] - self.means  # [..., K, 3]
        return np.einsum("...ki,kij,...kj->...k", d, self.inv_covs, d).min(axis=-1)


def remove_background(rgb: np.ndarray) -> np.ndarray:  # rgb [H, W, 3] float in [0, 1] -> alpha [H, W] float32
    """Soft foreground alpha of a photo on a plain backdrop; raises ImageInputError if there is none."""
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {rgb.shape}")
    h, w = rgb.shape[:2]
    work = _downscale(np.clip(rgb, 0.0, 1.0).astype(np.float32), SEGMENT_MAX_SIDE)
    lab = cv2.cvtColor(work, cv2.COLOR_RGB2Lab)  # L in [0, 100]
    ring = border_ring(lab.shape[:2])
    backdrop_like = fit_backdrop(lab, ring).mahalanobis_sq(lab) <= CHI2_3DOF_999  # [h, w]
    if (~backdrop_like).mean() < MIN_FOREGROUND_FRACTION:
        raise ImageInputError(
            "no separable foreground: nothing in the photo differs from its border colours (a uniform or noisy "
            "picture, or an object that fills the frame?); use a photo of one object on a plain background "
            "with a margin around it, or give an RGBA cut-out"
        )
    mask = grabcut(work, backdrop_like, ring)
    mask = keep_main_components(mask)
    mask = fill_holes(mask)
    check_foreground(mask, backdrop_like)
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), FEATHER_SIGMA_PX)
    if alpha.shape != (h, w):
        alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(alpha, 0.0, 1.0)


def _downscale(rgb: np.ndarray, max_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _ring_width(shape: tuple[int, int]) -> int:
    return max(2, round(BORDER_FRACTION * min(shape)))


def border_ring(shape: tuple[int, int]) -> np.ndarray:  # -> [H, W] bool
    h, w = shape
    width = _ring_width(shape)
    ring = np.ones((h, w), dtype=bool)
    ring[width:-width, width:-width] = False
    return ring


def fit_backdrop(lab: np.ndarray, ring: np.ndarray) -> BackdropModel:  # lab [H, W, 3], ring [H, W] bool
    """k-means clusters of the ring's colours as Gaussians. A backdrop surrounds the object, so only
    clusters present on at least two sides of the frame are kept: a colour found on one side only is
    the object reaching the frame (or a prop), not backdrop."""
    samples = lab[ring].astype(np.float32)  # [N, 3]
    k = min(BACKDROP_CLUSTERS, len(samples))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.1)
    cv2.setRNGSeed(0)  # deterministic k-means++ seeding (OpenCV's kmeans takes no local generator)
    _, labels, _ = cv2.kmeans(samples, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    label_image = np.full(ring.shape, -1)
    label_image[ring] = labels.ravel()
    sides_present = np.zeros(k, dtype=int)
    for side in _ring_sides(label_image, _ring_width(ring.shape)):
        share = np.bincount(side, minlength=k) / len(side)
        sides_present += share >= MIN_CLUSTER_SHARE
    means, inv_covs = [], []
    for j in np.flatnonzero(sides_present >= 2):
        members = samples[labels.ravel() == j].astype(np.float64)
        cov = np.cov(members, rowvar=False, bias=True) if len(members) > 1 else np.zeros((3, 3))
        means.append(members.mean(axis=0))
        inv_covs.append(np.linalg.inv(cov + JND_DELTA_E**2 * np.eye(3)))
    if not means:
        raise ImageInputError(
            "no separable foreground: the photo's border has no background colour that surrounds the object; "
            "leave a margin of plain background around it or give an RGBA cut-out"
        )
    return BackdropModel(np.stack(means), np.stack(inv_covs))


def _ring_sides(label_image: np.ndarray, width: int) -> list[np.ndarray]:
    """Ring labels of the top, bottom, left and right strips (corners count for both sides)."""
    strips = [label_image[:width], label_image[-width:], label_image[:, :width], label_image[:, -width:]]
    return [strip.ravel() for strip in strips]


def grabcut(rgb: np.ndarray, backdrop_like: np.ndarray, ring: np.ndarray) -> np.ndarray:  # -> [H, W] bool
    seeds = np.where(backdrop_like, cv2.GC_PR_BGD, cv2.GC_PR_FGD).astype(np.uint8)
    seeds[ring & backdrop_like] = cv2.GC_BGD
    image = (rgb * 255.0 + 0.5).astype(np.uint8)
    bgd_model, fgd_model = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(image, seeds, None, bgd_model, fgd_model, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    except cv2.error as e:  # too few pixels of one kind to fit its colour model
        raise ImageInputError(f"no separable foreground: background removal failed ({e.err})") from None
    return (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)


def keep_main_components(mask: np.ndarray) -> np.ndarray:
    """Keep the largest 8-connected component and those at least KEEP_COMPONENT_RATIO of its size."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= KEEP_COMPONENT_RATIO * areas.max()) + 1
    return np.isin(labels, keep)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill every enclosed hole: on a white backdrop a specular highlight looks exactly like the
    backdrop, so colour cannot tell it from a see-through opening (which gets filled too)."""
    return ndimage.binary_fill_holes(mask)


def check_foreground(mask: np.ndarray, backdrop_like: np.ndarray) -> None:
    coverage = float(mask.mean())
    if coverage < MIN_FOREGROUND_FRACTION:
        raise ImageInputError(
            f"no separable foreground: the object found covers {coverage:.2%} of the photo "
            f"(at least {MIN_FOREGROUND_FRACTION:.1%} needed); crop closer or give an RGBA cut-out"
        )
    if coverage > MAX_FOREGROUND_FRACTION:
        raise ImageInputError(
            f"no separable foreground: the object found covers {coverage:.0%} of the photo, so the border "
            "is not a plain background; leave a margin of background around the object or give an RGBA cut-out"
        )
    distinct = float((~backdrop_like[mask]).mean())
    if distinct < MIN_DISTINCT_SHARE:
        raise ImageInputError(
            f"no separable foreground: only {distinct:.0%} of the object found differs from the background "
            "colours (a noisy or busy picture?); use a photo of one object on a plain background"
        )
