"""A photo's file and header checked before anything is decoded (Pillow only: no torch, no numpy), so
that the CLI can refuse a bad photo in one line before it loads the pipeline."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from img2gs.errors import ImageInputError
from img2gs.limits import IMAGE_PIXELS

MAX_SIDE = 16384  # per side; the pixel count is limited by IMAGE_PIXELS (64 MP by default)
MIN_SIDE = 8


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image from its header only (nothing decoded), checked like load_image's."""
    with opened_image(Path(path)) as im:
        return im.size


@contextlib.contextmanager
def opened_image(path: Path) -> Iterator[Image.Image]:
    """The image opened lazily (header only) with its size checked; Pillow's errors become ImageInputError."""
    _check_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                _check_size(path, im.size)
                yield im
    except ImageInputError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageInputError(f"{path}: image is too large ({e})") from None
    except UnidentifiedImageError:
        raise ImageInputError(f"{path}: not an image (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageInputError(f"{path}: truncated or corrupt image ({e})") from None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ImageInputError(f"{path}: no such file")
    if path.is_dir():
        raise ImageInputError(f"{path}: is a directory, not an image file")
    if path.stat().st_size == 0:
        raise ImageInputError(f"{path}: empty file (0 bytes), not an image")


def _check_size(path: Path, size: tuple[int, int]) -> None:
    w, h = size
    if max(w, h) > MAX_SIDE:
        raise ImageInputError(f"{path}: image is too large ({w}x{h} pixels; the limit is {MAX_SIDE} per side)")
    IMAGE_PIXELS.check(w * h, f"{path}: image is too large ({w}x{h})", ImageInputError)
    if min(w, h) < MIN_SIDE:
        raise ImageInputError(f"{path}: image is too small ({w}x{h} pixels; at least {MIN_SIDE} per side)")
