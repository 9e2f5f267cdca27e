"""Optional dependencies: imported lazily, with an error that says what to install.

`import img2gs` never imports gsplat or timm; features that need them call `require()` when
they run.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from types import ModuleType

from img2gs.errors import MissingDependencyError

# module name -> (distribution name, pip extra that provides it)
OPTIONAL = {
    "gsplat": ("gsplat", "gpu"),
    "timm": ("timm", "dinov2"),
    "imageio_ffmpeg": ("imageio-ffmpeg", "video"),
}


def require(module: str, feature: str) -> ModuleType:
    """Import `module` or raise MissingDependencyError naming `feature` and the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        dist, extra = OPTIONAL.get(module, (module, None))
        how = f"pip install 'img2gs[{extra}]'" if extra else f"pip install {dist}"
        raise MissingDependencyError(f"{feature} needs the '{dist}' package ({how}): {e}") from None


def is_installed(module: str) -> bool:
    """True if `module` can be imported, checked without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
