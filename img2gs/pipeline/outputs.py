"""The set of files one reconstruction writes, checked before any work starts."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from img2gs.atomic import check_output_folder, check_output_path
from img2gs.errors import OutputError
from img2gs.splat.mesh_files import MESH_SUFFIXES, mesh_files

PAGE_SUFFIXES = (".html", ".htm")


@dataclass(frozen=True)
class ReconstructOutputs:
    ply: Path  # the 3DGS scene
    mesh: Path | None = None  # .glb / .obj / .ply
    views_dir: Path | None = None  # generated views + transforms.json, merged into the folder
    preview: Path | None = None  # turntable .gif, or a self-contained preview page .html
    force: bool = False  # overwrite existing outputs
    mesh_texture: bool = True  # a .glb / .obj mesh with a baked texture (an .obj's .mtl and .png beside it)
    mesh_height: float | None = None  # the mesh scaled to this height (metres); None: the world's scale

    @property
    def preview_is_page(self) -> bool:
        return self.preview is not None and self.preview.suffix.lower() in PAGE_SUFFIXES

    def mesh_files(self) -> list[Path]:
        return [] if self.mesh is None else mesh_files(self.mesh, self.mesh_texture)

    @property
    def config_file(self) -> Path:
        """The resolved config of the run, beside the scene: `scene.ply` -> `scene.reconstruct.json`."""
        return self.ply.with_name(self.ply.stem + ".reconstruct.json")

    def paths(self) -> list[Path]:
        return [p for p in (self.ply, self.config_file, *self.mesh_files(), self.views_dir, self.preview)
                if p is not None]

    def with_force(self, force: bool) -> "ReconstructOutputs":
        return dataclasses.replace(self, force=force)

    def check(self) -> None:
        """Fail early: suffixes, duplicates, existing files without force, unwritable directories.

        The views folder is merged into (see img2gs.posed_views.write_posed_views): with force only
        the files img2gs writes there are replaced; other files in it (e.g. the photo) are kept."""
        if self.ply.suffix.lower() != ".ply":
            raise OutputError(f"{self.ply}: the splat scene must be a .ply file")
        if self.mesh is not None and self.mesh.suffix.lower() not in MESH_SUFFIXES:
            raise OutputError(f"{self.mesh}: mesh format must be one of {', '.join(MESH_SUFFIXES)}")
        if self.preview is not None and self.preview.suffix.lower() not in (".gif", *PAGE_SUFFIXES):
            raise OutputError(f"{self.preview}: the preview must be a .gif (turntable) or .html (page) file")
        check_height(self.mesh_height)
        files = [p for p in self.paths() if p != self.views_dir]  # the views folder is merged into, checked below
        check_output_files(files, self.force, also=[self.views_dir] if self.views_dir is not None else [])
        if self.views_dir is not None:  # a folder the user names: merged into, never replaced whole
            check_output_folder(self.views_dir, self.force)


def check_output_files(files: list[Path], force: bool, also: list[Path] = ()) -> None:
    """Fail before any work when two outputs (`files`, or a folder in `also`) are one path, or when a file
    exists and `force` is not given (atomic.check_output_path: only files img2gs writes are replaced)."""
    resolved = [p.resolve() for p in (*files, *also)]
    if len(set(resolved)) != len(resolved):
        raise OutputError("two outputs point at the same file")
    for path in files:
        check_output_path(path, force)


def check_height(height: float | None) -> None:
    """A mesh height must be a positive, finite number of metres (None: not given)."""
    if height is not None and not (math.isfinite(height) and 0.0 < height <= 1e4):
        raise OutputError(f"--height must be a positive number of metres (at most 10 km), got {height}")
