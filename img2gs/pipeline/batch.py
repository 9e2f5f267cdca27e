"""Batch conversion: many photos, one report. Goes on past bad files; re-running skips finished ones.

The unit of work is a function `convert(photo, outputs) -> ReconstructReport` (the product passes
`reconstruct` with its config bound); this module only plans outputs, schedules jobs and collects
outcomes, so it is testable with any function.
"""

from __future__ import annotations

import glob
import os
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from img2gs.errors import Img2gsError, OutputError
from img2gs.pipeline.outputs import ReconstructOutputs


@dataclass(frozen=True)
class BatchOutcome:
    photo: Path
    status: str  # "ok" | "failed" | "skipped"
    reason: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class OutputNaming:
    """Which outputs each photo gets inside the batch's output folder, named after the photo's stem.

    Photos whose stems clash (`mug.jpg`, `mug.png`) are told apart by their extension (`mug_jpg.ply`,
    `mug_png.ply`); the other photos keep their plain stem. `plan` resolves every name up front and
    refuses the batch before any work if two photos would still write the same path.
    """

    mesh_format: str | None = None  # "glb" | "obj" | "ply" | None
    save_views: bool = False
    preview: bool = False  # <stem>_turntable.gif
    page: bool = False  # <stem>_preview.html, the self-contained preview page, instead of the turntable
    mesh_texture: bool = True  # a .glb / .obj mesh with a baked texture
    mesh_height: float | None = None  # metres; None: the world's scale

    def outputs_for(self, photo: Path, out_dir: Path, name: str | None = None) -> ReconstructOutputs:
        stem = name or photo.stem
        return ReconstructOutputs(
            ply=out_dir / f"{stem}.ply",
            mesh=out_dir / f"{stem}_mesh.{self.mesh_format}" if self.mesh_format else None,
            views_dir=out_dir / f"{stem}_views" if self.save_views else None,
            preview=out_dir / f"{stem}_preview.html" if self.page else
            out_dir / f"{stem}_turntable.gif" if self.preview else None,
            mesh_texture=self.mesh_texture,
            mesh_height=self.mesh_height,
        )

    def plan(self, photos: list[Path], out_dir: Path) -> dict[Path, ReconstructOutputs]:
        """The outputs of every photo; OutputError if two photos would write the same file.

        Names are compared case-insensitively (macOS and Windows folders are). The names depend only
        on the set of photos, so a re-run over the same inputs finds (and skips) the same files."""
        stems = Counter(photo.stem.casefold() for photo in photos)
        plan = {}
        for photo in photos:
            clash = stems[photo.stem.casefold()] > 1 and photo.suffix
            name = f"{photo.stem}_{photo.suffix.lstrip('.').lower()}" if clash else photo.stem
            plan[photo] = self.outputs_for(photo, out_dir, name)
        writer: dict[str, Path] = {}
        for photo, outputs in plan.items():
            for path in outputs.paths():
                other = writer.setdefault(str(path).casefold(), photo)
                if other != photo:
                    raise OutputError(f"{other} and {photo} would both write {path}; rename one of them "
                                      f"(nothing was converted)")
        return plan


def expand_inputs(patterns: Iterable[str]) -> list[Path]:
    """Photos matched by glob patterns (or named directly), sorted, without duplicates."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        matches = sorted(glob.glob(os.path.expanduser(pattern), recursive=True))
        if not matches and not glob.has_magic(pattern):
            matches = [pattern]  # a plain path that does not exist: reported per file, not dropped
        for match in matches:
            path = Path(match)
            if not path.is_dir():
                found.setdefault(path, None)
    return list(found)


def is_finished(outputs: ReconstructOutputs) -> bool:
    """Every product file exists (the resolved-config side file is a record, not asked for: results of
    versions that did not write it are finished too)."""
    return all(p.exists() for p in outputs.paths() if p != outputs.config_file)


def run_batch(
    photos: list[Path],
    out_dir: Path,
    naming: OutputNaming,
    convert: Callable[[Path, ReconstructOutputs], object],
    *,
    force: bool = False,
    jobs: int = 1,
    on_outcome: Callable[[BatchOutcome], None] | None = None,
    worker_init: Callable[[], None] | None = None,
    ray: RayCluster | None = None,
) -> list[BatchOutcome]:
    """Convert every photo; returns one outcome per photo, in input order: in this process (jobs 1), in a
    pool of `jobs` processes, or as one Ray task per photo on `ray`'s cluster.

    `convert` must be picklable when jobs > 1 or on Ray (a module-level function or functools.partial of one).
    """
    plan = naming.plan(photos, out_dir)  # name clashes are refused before any work
    out_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(out_dir, os.W_OK):
        raise OutputError(f"output directory {out_dir} is not writable")
    on_outcome = on_outcome or (lambda outcome: None)
    todo, outcomes = [], {}
    for photo in photos:
        outputs = plan[photo]
        if not force and is_finished(outputs):
            outcomes[photo] = BatchOutcome(photo, "skipped", "outputs exist (use --force to redo)")
            on_outcome(outcomes[photo])
        else:
            todo.append((photo, outputs.with_force(True)))
    if ray is not None:
        for photo, outcome in ray.run(convert, todo, worker_init):
            outcomes[photo] = outcome
            on_outcome(outcome)
    elif jobs <= 1:
        if worker_init:
            worker_init()
        for photo, outputs in todo:
            outcomes[photo] = convert_one(convert, photo, outputs)
            on_outcome(outcomes[photo])
    else:
        with ProcessPoolExecutor(max_workers=jobs, initializer=worker_init) as pool:
            futures = {pool.submit(convert_one, convert, photo, outputs): photo for photo, outputs in todo}
            for future in as_completed(futures):
                outcomes[futures[future]] = future.result()
                on_outcome(outcomes[futures[future]])
    return [outcomes[photo] for photo in photos]


@dataclass(frozen=True)
class RayCluster:
    """Where a batch runs with `--ray`: the cluster at `address` ("auto", "ray://host:10001"), or a local
    Ray started with `local_cpus` CPUs when None. Each photo is one task of one CPU; a worker process runs
    many tasks, so the models (cached per process by the pipeline) load once per worker."""

    address: str | None = None
    local_cpus: int | None = None

    def run(self, convert: Callable, todo: list[tuple[Path, ReconstructOutputs]],
            worker_init: Callable[[], None] | None) -> Iterable[tuple[Path, BatchOutcome]]:
        """(photo, outcome) as the tasks finish."""
        try:
            import ray
        except ImportError:
            raise Img2gsError("--ray needs Ray: pip install 'img2gs[ray]'") from None
        if not ray.is_initialized():
            if self.address is None:
                ray.init(num_cpus=self.local_cpus, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            else:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
        task = ray.remote(num_cpus=1, max_retries=0)(_ray_task)
        pending = {task.remote(convert, photo, outputs, worker_init): photo for photo, outputs in todo}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            photo = pending.pop(done[0])
            try:
                outcome = ray.get(done[0])
            except ray.exceptions.RayError as e:  # the worker died (e.g. out of memory): this photo failed
                outcome = BatchOutcome(photo, "failed", f"Ray task failed: {type(e).__name__}")
            yield photo, outcome


_WORKER_READY = False  # per Ray worker process: worker_init has run


def _ray_task(convert: Callable, photo: Path, outputs: ReconstructOutputs,
              worker_init: Callable[[], None] | None) -> BatchOutcome:
    global _WORKER_READY
    if not _WORKER_READY and worker_init is not None:
        worker_init()
    _WORKER_READY = True
    return convert_one(convert, photo, outputs)


def convert_one(convert: Callable, photo: Path, outputs: ReconstructOutputs) -> BatchOutcome:
    """Run `convert` on one photo, turning any failure into an outcome (the batch goes on)."""
    start = time.perf_counter()
    try:
        convert(photo, outputs)
    except Img2gsError as e:
        return BatchOutcome(photo, "failed", str(e), time.perf_counter() - start)
    except OSError as e:
        return BatchOutcome(photo, "failed", f"{e.strerror or e}: {e.filename or photo}", time.perf_counter() - start)
    except Exception as e:  # a bug must not stop the batch, but must be visible
        last = traceback.extract_tb(e.__traceback__)[-1]
        where = f"{Path(last.filename).name}:{last.lineno}"
        return BatchOutcome(photo, "failed", f"internal error {type(e).__name__}: {e} ({where})", time.perf_counter() - start)
    return BatchOutcome(photo, "ok", "", time.perf_counter() - start)
