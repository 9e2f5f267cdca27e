import io

import numpy as np
import pytest
import torch
from PIL import Image

from img2gs.cameras import INPUT_FILL
from img2gs.errors import ImageInputError
from img2gs.metrics import mask_iou
from img2gs.pipeline import background
from img2gs.pipeline.background import check_foreground, remove_background
from img2gs.pipeline.preprocess import has_meaningful_alpha, preprocess_photo

SIZE = 256


def _bbox(alpha: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero((alpha > 0.5).any(axis=1)), np.flatnonzero((alpha > 0.5).any(axis=0))
    return cols[0], rows[0], cols[-1] + 1, rows[-1] + 1


def _rgba(rgb: np.ndarray, alpha: np.ndarray | None = None) -> torch.Tensor:
    alpha = np.ones(rgb.shape[:2], np.float32) if alpha is None else alpha
    return torch.from_numpy(np.concatenate([rgb, alpha[..., None]], axis=-1).astype(np.float32))


def _jpeg(rgb: np.ndarray, quality: int = 75) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0


def product_photo(h=240, w=320, backdrop="grey", colour=(0.75, 0.2, 0.15), touch_bottom=False, seed=0, ss=2):
    """A bottle-shaped object with Lambertian shading, painted stripes and a specular highlight, with a
    soft contact shadow on a white / grey / gradient backdrop, ss x ss supersampled edges, JPEG q75.
    Returns (rgb [h, w, 3], true mask [h, w] bool)."""
    y, x = (np.mgrid[0 : h * ss, 0 : w * ss] + 0.5) / ss
    cx, rx = 0.5 * w, 0.18 * w
    cy, ry = (0.62 * h, 0.4 * h) if touch_bottom else (0.55 * h, 0.28 * h)
    body = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1
    neck = (np.abs(x - cx) <= 0.05 * w) & (y >= cy - ry - 0.15 * h) & (y <= cy)
    inside = body | neck
    if backdrop == "white":
        bg = np.full((h * ss, w * ss, 3), 0.97)
    elif backdrop == "grey":
        bg = np.full((h * ss, w * ss, 3), 0.82)
    else:
        bg = np.linspace(0.95, 0.7, h * ss)[:, None, None] * np.array([1.0, 0.98, 0.95]) * np.ones((1, w * ss, 1))
    shadow = ((y - cy - 0.7 * ry) / (0.12 * h)) ** 2 + ((x - cx - 0.1 * w) / (0.25 * w)) ** 2
    bg = bg * (1 - 0.25 * np.exp(-shadow))[..., None]
    nx, ny = np.clip((x - cx) / rx, -1, 1), np.clip((y - cy) / ry, -1, 1)
    n_dot_l = np.clip(-0.5 * nx - 0.4 * ny + 0.77 * np.sqrt(np.clip(1 - nx**2 - ny**2, 0, 1)), 0, 1)
    stripes = 0.85 + 0.15 * (np.sin(y / h * 40) > 0)
    obj = np.array(colour) * ((0.35 + 0.65 * n_dot_l) * stripes)[..., None] + 0.9 * (n_dot_l**40)[..., None]
    rgb = np.where(inside[..., None], obj, bg).reshape(h, ss, w, ss, 3).mean(axis=(1, 3))
    rgb = rgb + 0.01 * np.random.default_rng(seed).standard_normal((h, w, 3))
    mask = inside.reshape(h, ss, w, ss).mean(axis=(1, 3)) >= 0.5
    return _jpeg(rgb), mask


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(mask_iou(torch.from_numpy(a), torch.from_numpy(b)))


@pytest.mark.parametrize("radii", [(100, 40), (40, 200), (120, 120)], ids=["tall", "wide", "round"])
def test_rgba_cutout_is_centred_and_scaled_by_the_framing_rule(radii):
    ry, rx = radii
    y, x = np.mgrid[0:300, 0:500] + 0.5
    alpha = ((((y - 140) / ry) ** 2 + ((x - 300) / rx) ** 2) <= 1).astype(np.float32)
    rgb = np.broadcast_to(np.array([0.2, 0.5, 0.7], np.float32), (300, 500, 3)).copy()
    out = preprocess_photo(_rgba(rgb, alpha), SIZE).numpy()
    assert out.shape == (SIZE, SIZE, 4) and out.dtype == np.float32
    x0, y0, x1, y1 = _bbox(out[..., 3])
    longer, shorter = max(x1 - x0, y1 - y0), min(x1 - x0, y1 - y0)
    assert abs(longer - INPUT_FILL * SIZE) <= 1.0
    assert abs((x0 + x1) / 2 - SIZE / 2) <= 1.0 and abs((y0 + y1) / 2 - SIZE / 2) <= 1.0
    assert abs(shorter - INPUT_FILL * SIZE * min(ry, rx) / max(ry, rx)) <= 2.0  # aspect ratio kept
    assert (y1 - y0 > x1 - x0) == (ry > rx) or ry == rx  # orientation kept
    opaque, empty = out[..., 3] > 0.99, out[..., 3] == 0
    assert np.allclose(out[opaque, :3], [0.2, 0.5, 0.7], atol=2e-3)  # no halo from premultiplication
    assert np.all(out[empty, :3] == 1.0) and empty.mean() > 0.3


@pytest.mark.parametrize("backdrop", ["white", "grey", "gradient"])
def test_product_photo_mask_matches_the_true_mask(backdrop):
    # Measured IoU (alpha > 0.5): white 0.995, grey 0.995, gradient 0.996 (the misses are a sub-pixel
    # rim along the JPEG edges; the soft shadow stays background, the highlight stays object).
    rgb, mask = product_photo(backdrop=backdrop)
    alpha = remove_background(rgb)
    assert alpha.shape == mask.shape
    assert _iou(alpha > 0.5, mask) >= 0.9


def test_object_touching_the_frame_and_a_large_photo():
    # The object's colour on one side of the border is not taken for backdrop (measured IoU 0.997);
    # a 540x720 photo is segmented at 512 pixels and the mask upsampled (measured IoU 0.990).
    rgb, mask = product_photo(touch_bottom=True, backdrop="gradient")
    assert _iou(remove_background(rgb) > 0.5, mask) >= 0.9
    rgb, mask = product_photo(540, 720, backdrop="white", colour=(0.2, 0.35, 0.8))
    assert _iou(remove_background(rgb) > 0.5, mask) >= 0.9


def test_product_photo_is_framed():
    rgb, _ = product_photo(backdrop="gradient")
    out = preprocess_photo(_rgba(rgb), SIZE).numpy()
    x0, y0, x1, y1 = _bbox(out[..., 3])
    assert abs(max(x1 - x0, y1 - y0) - INPUT_FILL * SIZE) <= 1.0
    assert abs((x0 + x1) / 2 - SIZE / 2) <= 1.0 and abs((y0 + y1) / 2 - SIZE / 2) <= 1.0
    assert np.all(out[out[..., 3] == 0, :3] == 1.0)


def _no_foreground_images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    tiny = np.full((300, 300, 3), 0.9, np.float32)
    tiny[150:155, 150:155] = (1.0, 0.0, 0.0)  # 0.03 % of the picture
    fills_frame = np.full((300, 300, 3), 0.9, np.float32)
    fills_frame[4:-4, 4:-4] = (0.8, 0.1, 0.1)  # 95 % of the picture
    return {
        "uniform": np.full((200, 300, 3), 0.4, np.float32),
        "uniform-noise": rng.uniform(0, 1, (200, 300, 3)).astype(np.float32),
        "gaussian-noise": np.clip(0.5 + 0.2 * rng.standard_normal((200, 300, 3)), 0, 1).astype(np.float32),
        "covers-none": tiny,
        "covers-all": fills_frame,
    }


@pytest.mark.parametrize("name", list(_no_foreground_images()))
def test_no_separable_foreground_is_an_error(name):
    with pytest.raises(ImageInputError, match="no separable foreground"):
        preprocess_photo(_rgba(_no_foreground_images()[name]), SIZE)


def test_fully_transparent_cutout_is_an_error():
    with pytest.raises(ImageInputError, match="no separable foreground: the alpha channel is fully transparent"):
        preprocess_photo(torch.zeros(64, 64, 4), SIZE)


def test_foreground_thresholds():
    backdrop_like = np.ones((100, 100), bool)
    mask = np.zeros((100, 100), bool)
    mask[:7, :7] = True  # 0.49 % < MIN_FOREGROUND_FRACTION
    backdrop_like[mask] = False
    with pytest.raises(ImageInputError, match="covers 0.49%"):
        check_foreground(mask, backdrop_like)
    mask[:8, :8], backdrop_like[:8, :8] = True, False  # 0.64 %: accepted
    check_foreground(mask, backdrop_like)
    with pytest.raises(ImageInputError, match="covers 95%"):
        check_foreground(np.pad(np.ones((95, 100), bool), ((0, 5), (0, 0))), np.zeros((100, 100), bool))
    half = np.zeros((100, 100), bool)
    half[:50] = True
    looks_like_backdrop = np.ones((100, 100), bool)
    looks_like_backdrop[:20] = False  # only 40 % of the object differs from the backdrop
    with pytest.raises(ImageInputError, match="only 40%"):
        check_foreground(half, looks_like_backdrop)
    assert background.MIN_FOREGROUND_FRACTION < 0.0064 and background.MAX_FOREGROUND_FRACTION < 0.95


def test_alpha_is_used_only_when_meaningful():
    alpha = np.ones((100, 100), np.float32)
    alpha[0, :5] = 0.0  # 0.05 %: an export artefact, not a cut-out
    assert not has_meaningful_alpha(alpha)
    alpha[:1, :] = 0.0  # 1 %
    assert has_meaningful_alpha(alpha)


def test_without_background_removal_the_whole_photo_is_the_object():
    rgb = np.zeros((200, 100, 3), np.float32)
    rgb[:100] = (1.0, 0.0, 0.0)  # a tall photo: red top half, blue bottom half
    rgb[100:] = (0.0, 0.0, 1.0)
    out = preprocess_photo(_rgba(rgb), SIZE, remove_background=False).numpy()
    x0, y0, x1, y1 = _bbox(out[..., 3])
    assert abs((y1 - y0) - INPUT_FILL * SIZE) <= 1 and abs((x1 - x0) - INPUT_FILL * SIZE / 2) <= 1
    assert abs((x0 + x1) / 2 - SIZE / 2) <= 1.0 and abs((y0 + y1) / 2 - SIZE / 2) <= 1.0
    assert np.allclose(out[80, 128], [1, 0, 0, 1], atol=1e-3) and np.allclose(out[176, 128], [0, 0, 1, 1], atol=1e-3)
    # A photo with real alpha keeps it even without background removal.
    alpha = np.zeros((200, 100), np.float32)
    alpha[50:150, 25:75] = 1.0
    out = preprocess_photo(_rgba(rgb, alpha), SIZE, remove_background=False).numpy()
    x0, y0, x1, y1 = _bbox(out[..., 3])
    assert abs((x1 - x0) - INPUT_FILL * SIZE / 2) <= 1 and abs((y1 - y0) - INPUT_FILL * SIZE) <= 1


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"\[H, W, 3\|4\]"):
        preprocess_photo(torch.zeros(64, 64), SIZE)
    with pytest.raises(ImageInputError, match="NaN"):
        preprocess_photo(torch.full((64, 64, 4), float("nan")), SIZE)
