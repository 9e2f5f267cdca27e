import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from img2gs.errors import ImageInputError, OutputError
from img2gs.image_io import fill_from_nearest, load_image, save_png


def _gradient(w=24, h=16):
    x = np.linspace(0, 255, w, dtype=np.uint8)
    return np.stack([np.tile(x, (h, 1)), np.tile(x[::-1], (h, 1)), np.full((h, w), 128, np.uint8)], -1)


# ---------------------------------------------------------------- good input, every mode and format

@pytest.mark.parametrize("fmt, ext", [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp"), ("TIFF", "tif")])
def test_rgb_formats(tmp_path, fmt, ext):
    path = tmp_path / f"photo.{ext}"
    Image.fromarray(_gradient()).save(path, format=fmt, **({"quality": 95} if fmt != "PNG" else {}))
    image = load_image(path)
    assert image.shape == (16, 24, 4) and image.dtype == torch.float32
    assert (image[..., 3] == 1).all()
    assert (image[..., :3] - torch.from_numpy(_gradient() / 255.0).float()).abs().mean() < 0.02


def test_rgba_keeps_alpha(tmp_path):
    rgba = np.concatenate([_gradient(), np.full((16, 24, 1), 64, np.uint8)], -1)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert torch.allclose(load_image(tmp_path / "a.png")[..., 3], torch.tensor(64 / 255))


def test_grayscale_and_gray_alpha(tmp_path):
    Image.fromarray(np.full((10, 12), 200, np.uint8), "L").save(tmp_path / "l.png")
    Image.fromarray(np.stack([np.full((10, 12), 50, np.uint8), np.full((10, 12), 0, np.uint8)], -1), "LA").save(tmp_path / "la.png")
    gray = load_image(tmp_path / "l.png")
    assert torch.allclose(gray[..., :3], torch.tensor(200 / 255)) and (gray[..., 3] == 1).all()
    assert (load_image(tmp_path / "la.png")[..., 3] == 0).all()


def test_palette_with_transparency(tmp_path):
    im = Image.new("P", (10, 10), 0)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(1, (0, 0, 5, 10))
    im.info["transparency"] = 1
    im.save(tmp_path / "p.png", transparency=1)
    image = load_image(tmp_path / "p.png")
    assert (image[:, :5, 3] == 0).all() and (image[:, 5:, 3] == 1).all()
    assert torch.allclose(image[0, 7, :3], torch.tensor([1.0, 0.0, 0.0]))


def test_sixteen_bit_grayscale(tmp_path):
    values = np.array([[0, 1000, 65535, 32768] * 2] * 8, dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    image = load_image(tmp_path / "g16.png")
    torch.testing.assert_close(image[0, :, 0], torch.from_numpy(values[0] / 65535.0).float(), atol=1e-6, rtol=0)


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=95)
    image = load_image(tmp_path / "cmyk.jpg")
    assert image.shape == (16, 16, 4)
    assert image[..., 0].mean() > 0.9 and image[..., 1].mean() < 0.1 and image[..., 2].mean() < 0.1


def test_exif_orientation_is_applied(tmp_path):
    im = Image.fromarray(_gradient(24, 16))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    im.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    assert load_image(tmp_path / "rot.jpg").shape == (24, 16, 4)


# ---------------------------------------------------------------- bad input: one typed error each

def forged_png(path, w=30000, h=30000):
    """A valid-looking PNG whose header declares w x h pixels (the data is tiny)."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = struct.pack(">II", w, h)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("make, problem", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_text("hello, I am text"), "not an image"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: forged_png(p), "too large"),
    (lambda p: Image.new("RGB", (4, 4)).save(p, format="PNG"), "too small"),
])
def test_bad_input_raises_typed_error(tmp_path, make, problem):
    path = tmp_path / "photo.png"
    make(path)
    with pytest.raises(ImageInputError, match=problem) as info:
        load_image(path)
    assert "\n" not in str(info.value)


def test_truncated_file(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, format="PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageInputError, match="truncated or corrupt"):
        load_image(tmp_path / "cut.png")


# ---------------------------------------------------------------- writing

def test_save_png_refuses_nan_and_leaves_nothing(tmp_path):
    image = torch.zeros(8, 8, 4)
    image[2, 2, 0] = float("nan")
    with pytest.raises(OutputError, match="NaN"):
        save_png(tmp_path / "x.png", image)
    assert list(tmp_path.iterdir()) == []


def test_save_load_round_trip(tmp_path):
    image = torch.rand(9, 11, 4, generator=torch.Generator().manual_seed(1))
    save_png(tmp_path / "x.png", image)
    assert (load_image(tmp_path / "x.png") - image).abs().max() <= 0.5 / 255 + 1e-6


def test_atomic_outputs_get_normal_permissions(tmp_path):
    import os
    import stat

    from safetensors.torch import save_file

    from img2gs.atomic import atomic_directory, atomic_path

    save_png(tmp_path / "x.png", torch.zeros(8, 8, 3))
    with atomic_directory(tmp_path / "d") as d:
        (d / "f").write_text("x")
    with atomic_path(tmp_path / "t.safetensors") as tmp:  # safetensors replaces the file with a 0600 one
        save_file({"x": torch.zeros(2)}, str(tmp))
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "x.png").stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE((tmp_path / "t.safetensors").stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~mask


def test_size_is_checked_from_the_header_against_the_pixel_limit(tmp_path, monkeypatch):
    from img2gs.image_header import image_size

    forged_png(tmp_path / "big.png", 9000, 8000)  # 72 MP declared, 8x8 of data: refused without decoding
    with pytest.raises(ImageInputError, match="IMG2GS_MAX_IMAGE_PIXELS"):
        image_size(tmp_path / "big.png")
    with pytest.raises(ImageInputError, match="72,000,000 decoded pixels"):
        load_image(tmp_path / "big.png")
    Image.fromarray(_gradient(24, 16)).save(tmp_path / "small.png")
    assert image_size(tmp_path / "small.png") == (24, 16)
    monkeypatch.setenv("IMG2GS_MAX_IMAGE_PIXELS", "100")
    with pytest.raises(ImageInputError, match="384 decoded pixels in one image is over the limit of 100"):
        load_image(tmp_path / "small.png")


def test_empty_pixels_take_the_nearest_valid_value():  # the lift's depth / colour fill, a texture's gutters
    image = torch.zeros(4, 4, 3)
    valid = torch.zeros(4, 4, dtype=torch.bool)
    image[0, 0], valid[0, 0] = 1.0, True
    image[3, 3], valid[3, 3] = 0.5, True
    filled = fill_from_nearest(image, valid)
    assert torch.allclose(filled[0, 1], torch.ones(3)) and torch.allclose(filled[3, 2], torch.full((3,), 0.5))
    assert torch.allclose(filled[3, 3], torch.full((3,), 0.5))

