"""Atomic outputs, and who owns an output path.

Everything img2gs writes goes to a temporary sibling first and is renamed into place, so a crash or
Ctrl-C leaves either the old file or the complete new one, never a half-written file. `os.replace` is
atomic on POSIX and Windows when source and target are on the same filesystem, which a sibling temp
path guarantees.

Ownership: img2gs only ever replaces what it wrote itself.
  * A file output (`.ply`, `.fit.json`, `.gif`, ...) is replaced atomically, with --force.
  * A folder img2gs creates and owns whole (a dataset, a training run, a model checkpoint) is
    recognised by its manifest (`owned_folder_kind`) and only such a folder (or an empty one) is ever
    replaced as a whole (`check_output_path`, `atomic_directory`); anything else is refused.
  * A folder the user names for outputs (`--views-dir`, `views -o`, `render -o`) is merged into
    (`check_output_folder`, `merge_into_directory`): each file written is replaced atomically, the
    files of the tool's own previous run there (listed in its previous index) are removed, the index
    is written last, and nothing else in the folder is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath

from img2gs.errors import OutputError


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once at import, before any threads write
    os.umask(mask)
    return mask


_UMASK = _read_umask()

# The manifests of the folders img2gs owns whole. The strings are those of their writers
# (img2gs.data.shards.FORMAT / META_FILE, img2gs.viewgen.checkpoint.FORMAT / CONFIG_FILE /
# img2gs.shape.checkpoint.FORMAT /
# RUN_CHECKPOINT_SUBDIR, img2gs.training.loop.OPTIONS_FILE, img2gs.pipeline.train_all.PLAN_FILE /
# PLAN_FORMAT), repeated here so that this
# low-level module imports none of them; tests/test_output_ownership.py checks they agree.
DATASET = "dataset"
TRAINING_RUN = "training run"
CHECKPOINT = "model checkpoint"
LIFECYCLE_RUN = "lifecycle run"  # `img2gs train all`
OWNED_KINDS = (DATASET, TRAINING_RUN, CHECKPOINT, LIFECYCLE_RUN)
_DATASET_META, _DATASET_FORMAT_PREFIX = "meta.json", "img2gs-views/"
_RUN_OPTIONS = "training_options.json"
_CHECKPOINT_CONFIG, _CHECKPOINT_FORMAT, _RUN_CHECKPOINT_SUBDIR = "config.json", "img2gs-viewgen", "checkpoint"
_SHAPE_CHECKPOINT_FORMAT = "img2gs-shape"
_LIFECYCLE_PLAN, _LIFECYCLE_FORMAT = "plan.json", "img2gs-lifecycle/1"


def _json_format(path: Path) -> str | None:
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    value = meta.get("format") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def owned_folder_kind(path: str | os.PathLike) -> str | None:
    """Which folder img2gs created `path` as, recognised by its manifest; None if it is none of them."""
    path = Path(path)
    if not path.is_dir():
        return None
    if (_json_format(path / _DATASET_META) or "").startswith(_DATASET_FORMAT_PREFIX):
        return DATASET
    if (path / _RUN_OPTIONS).is_file():
        return TRAINING_RUN
    if _json_format(path / _LIFECYCLE_PLAN) == _LIFECYCLE_FORMAT:
        return LIFECYCLE_RUN
    if _json_format(path / _CHECKPOINT_CONFIG) in (_CHECKPOINT_FORMAT, _SHAPE_CHECKPOINT_FORMAT):
        return CHECKPOINT
    if path.name == _RUN_CHECKPOINT_SUBDIR and (path.parent / _RUN_OPTIONS).is_file():
        return CHECKPOINT  # a run's own checkpoint/ folder
    return None


def _is_empty_dir(path: Path) -> bool:
    return not any(path.iterdir())


def check_replaceable_folder(path: str | os.PathLike, kinds: Iterable[str] = OWNED_KINDS) -> None:
    """Refuse to replace the existing folder `path` as a whole unless it is empty or img2gs's own
    (one of `kinds`, by its manifest). A missing path passes."""
    path = Path(path)
    if not path.is_dir() or _is_empty_dir(path):
        return
    kinds = tuple(kinds)
    found = owned_folder_kind(path)
    if found in kinds:
        return
    what = f"a {found}" if found else "a folder img2gs did not create"
    raise OutputError(f"{path} is {what}, not a {' or '.join(kinds)} folder; --force replaces only a folder of "
                      f"that kind, so nothing was changed (choose a new or empty folder)")


def check_new_run_folder(path: str | os.PathLike, force: bool, kind: str) -> bool:
    """Fail before any work if a new run cannot start in `path`: a file, or a non-empty folder without
    `force` (or, with it, one that is not img2gs's own of `kind`). True when `path` holds a previous run
    of that kind to be started over."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} is a file, expected a run folder")
    if not path.is_dir() or _is_empty_dir(path):
        return False
    if not force:
        raise OutputError(f"{path} already exists (use --resume to continue it or --force to start over)")
    check_replaceable_folder(path, (kind,))  # --force starts over only in a run folder
    return True


def check_output_path(path: str | os.PathLike, force: bool = False, kinds: Iterable[str] = OWNED_KINDS) -> Path:
    """Fail early (before any work) if `path` exists without `force` or its directory is unwritable.

    An existing non-empty folder is replaced (with `force`) only when it is img2gs's own of one of
    `kinds` (see `check_replaceable_folder`). Missing parent directories are created.
    """
    path = Path(path)
    if path.exists() and not force:
        raise OutputError(f"{path} already exists (use --force to overwrite)")
    if path.is_dir() and path.suffix:
        raise OutputError(f"{path} is a directory, expected a file path")
    check_replaceable_folder(path, kinds)
    _check_parent(path)
    return path


def check_output_folder(path: str | os.PathLike, force: bool = False) -> Path:
    """Fail early for a folder the user names for outputs, which img2gs merges into.

    A non-empty existing folder needs `force` (and then only the files img2gs writes there are
    replaced, see `merge_into_directory`). Missing parent directories are created.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} is a file, expected a folder")
    if path.is_dir() and not _is_empty_dir(path) and not force:
        raise OutputError(f"{path} already exists and is not empty (use --force to replace the files "
                          f"img2gs writes there; nothing else in it is touched)")
    _check_parent(path)
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"output directory {path} is not writable")
    return path


def _check_parent(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create output directory {parent}: {e.strerror}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"output directory {parent} is not writable")


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
def atomic_directory(path: str | os.PathLike, kinds: Iterable[str] = OWNED_KINDS) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; on success it replaces `path` (old one removed).

    Only a folder img2gs owns whole (one of `kinds`, by its manifest) or an empty one is replaced;
    any other existing folder is refused before anything is written (OutputError).
    The swap is two renames (old -> backup, new -> path); the backup is deleted only after the new
    directory is in place, so at no moment is the previous content lost.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} is a file, expected a folder")
    check_replaceable_folder(path, kinds)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp_dir, 0o777 & ~_UMASK)
    try:
        yield tmp_dir
        swap_directory_into(tmp_dir, path)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise


def swap_directory_into(staged: str | os.PathLike, path: str | os.PathLike) -> None:
    """Move the finished directory `staged` (a sibling of `path`) onto `path`: two renames (old ->
    backup, new -> path), the backup deleted only once the new one is in place. The caller has checked
    that `path` may be replaced (`check_replaceable_folder`)."""
    path = Path(path)
    backup = None
    if path.exists():
        backup = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, backup)
    os.replace(staged, path)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def _inside(folder: Path, name: str) -> Path | None:
    """`folder / name` for a plain relative name that stays inside `folder`; None otherwise."""
    pure = PurePosixPath(str(name).replace("\\", "/"))
    if not str(name) or pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        return None
    parts = [p for p in pure.parts if p != "."]
    return folder.joinpath(*parts) if parts else None


def merge_into_directory(
    folder: str | os.PathLike,
    files: Iterable[tuple[str, Callable[[Path], None]]],
    index_name: str,
    index_text: str,
    previous: Iterable[str] = (),
) -> Path:
    """Write files into a folder the user named for outputs, touching nothing else in it.

    `files` are (relative name, writer) pairs; each writer gets a temporary path beside its file and
    the file is renamed into place when it returns (so each file is replaced atomically). The index
    `index_name` (which should list the written names, for the next run) is written after all of
    them. Then the files in `previous` (those the index of the tool's previous run there listed) that
    were not written again are deleted, and folders that leaves empty. Names must stay inside `folder`.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is a file, expected a folder")
    files = list(files)
    targets: dict[Path, Callable[[Path], None]] = {}
    for name, writer in files:
        target = _inside(folder, name)
        if target is None or target == folder / index_name:
            raise OutputError(f"cannot write {name!r} into {folder}: not a file name inside the folder")
        if target in targets:
            raise OutputError(f"two outputs would be written to {target}")
        targets[target] = writer
    folder.mkdir(parents=True, exist_ok=True)
    for target, writer in targets.items():
        with atomic_path(target) as tmp:
            writer(tmp)
    atomic_write_text(folder / index_name, index_text)  # last: a crash before it keeps the old index
    for name in previous:
        old = _inside(folder, name)
        if old is None or old in targets or old == folder / index_name:
            continue
        if old.is_symlink() or old.is_file():
            old.unlink(missing_ok=True)
            _remove_empty_parents(old.parent, folder)
    return folder


def _remove_empty_parents(directory: Path, stop: Path) -> None:
    while directory != stop and stop in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
