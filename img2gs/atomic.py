"""Atomic outputs: everything img2gs writes goes to a temporary sibling first and is renamed into place.

A crash or Ctrl-C therefore leaves either the old file or the complete new one, never a half-written
file. `os.replace` is atomic on POSIX and Windows when source and target are on the same filesystem,
which a sibling temp path guarantees.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from img2gs.errors import OutputError


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once at import, before any threads write
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def check_output_path(path: str | os.PathLike, force: bool = False) -> Path:
    """Fail early (before any work) if `path` exists without `force` or its directory is unwritable.

    Missing parent directories are created.
    """
    path = Path(path)
    if path.exists() and not force:
        raise OutputError(f"{path} already exists (use --force to overwrite)")
    if path.is_dir() and path.suffix:
        raise OutputError(f"{path} is a directory, expected a file path")
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create output directory {parent}: {e.strerror}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"output directory {parent} is not writable")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it onto `path`, on error delete it.

    The temp name keeps the suffix so writers that dispatch on it (trimesh, PIL) still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # after the writer: mkstemp makes 0600, and so do writers that replace the file (safetensors)
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; on success it replaces `path` (old one removed).

    The swap is two renames (old -> backup, new -> path); the backup is deleted only after the new
    directory is in place, so at no moment is the previous content lost.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp_dir, 0o777 & ~_UMASK)
    try:
        yield tmp_dir
        backup = None
        if path.exists():
            backup = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, backup)
        os.replace(tmp_dir, path)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
