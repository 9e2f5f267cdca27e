"""Input limits: sizes checked from headers and declared counts before anything is allocated.

Each limit has a default (README, "Input limits") and an environment variable that changes it, for the
rare user who needs more: `IMG2GS_MAX_VIEW_BYTES=16000000000 img2gs fit big_capture/ -o s.ply`.
Decoded bytes are counted as 8-bit RGBA (4 bytes per pixel); img2gs holds images as float32, so the
memory used is about four times the count.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from img2gs.errors import Img2gsError, SettingError


@dataclass(frozen=True)
class Limit:
    env: str  # the environment variable that overrides the default
    default: int
    unit: str  # what is counted, e.g. "pixels"

    def value(self) -> int:
        text = os.environ.get(self.env)
        if text is None or not text.strip():
            return self.default
        try:
            value = int(text.strip())
        except ValueError:
            raise SettingError(f"{self.env}={text!r} is not a whole number") from None
        if value <= 0:
            raise SettingError(f"{self.env}={text!r} must be positive")
        return value

    def check(self, amount: int, subject: str, error: type[Img2gsError]) -> None:
        """Raise `error` naming `subject` when `amount` is over the limit."""
        limit = self.value()
        if amount > limit:
            raise error(f"{subject}: {amount:,} {self.unit} is over the limit of {limit:,} "
                        f"(set {self.env} to allow more)")


IMAGE_PIXELS = Limit("IMG2GS_MAX_IMAGE_PIXELS", 64_000_000, "decoded pixels in one image")
VIEW_FRAMES = Limit("IMG2GS_MAX_FRAMES", 10_000, "frames in one posed-view folder")
VIEW_BYTES = Limit("IMG2GS_MAX_VIEW_BYTES", 4_000_000_000, "decoded bytes (RGBA, 4 per pixel) of all frames")
RENDER_SIDE = Limit("IMG2GS_MAX_RENDER_SIDE", 8192, "pixels per side of a render")
