"""Meshes from a folder: OBJ (+MTL and textures), glTF / GLB, PLY, OFF, STL, loaded with trimesh.

Orientation: img2gs's world is +Z up. Files are turned upright by format convention: glTF and OBJ are
Y-up (the glTF specification; what most OBJ exporters and Sweet Home 3D write), so they are rotated
+90 degrees about X; PLY, OFF and STL are taken as Z-up. Units do not matter (objects are normalised).

Sweet Home 3D furniture catalogs (a folder holding `PluginFurnitureCatalog.properties`, as unpacked by
scripts/fetch_sweethome3d.sh) are read through their catalog: the models it lists, with their
`modelRotation` (which puts each model in Sweet Home 3D's Y-up frame), their licence and creator.
Door and window models are left out unless asked for.

0 A.D.'s game art is read from its archive itself: `--meshes data/0ad/public.zip` (zero_ad.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from img2gs.data import zero_ad
from img2gs.errors import DataFormatError

MESH_SUFFIXES = (".obj", ".glb", ".gltf", ".ply", ".off", ".stl")
Y_UP_SUFFIXES = (".obj", ".glb", ".gltf")
CATALOG_FILE = "PluginFurnitureCatalog.properties"
LICENCE_NAMES = ("LICENSE", "LICENSE.txt", "LICENSE.TXT", "LICENSE.md", "COPYING", "copyright")

# Rotates a Y-up model to Z-up: +Y -> +Z, +Z -> -Y.
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@dataclass(frozen=True)
class MeshEntry:
    object_id: str  # "meshes/<path relative to the folder>"
    path: Path
    rotation: tuple[tuple[float, ...], ...]  # [3, 3] from the file's frame to img2gs's +Z-up frame
    licence: str  # licence text or the licence file found beside the model ("unknown" if none)
    credit: str = ""  # author / catalog, for attribution
    extra: dict = field(default_factory=dict, compare=False)


def find_meshes(root: str | os.PathLike, include_doors_and_windows: bool = False) -> list[MeshEntry]:
    """Every usable model under `root`, sorted by object id (so the order is deterministic)."""
    root = Path(root)
    if root.is_file() and root.suffix.lower() == ".zip":  # 0 A.D.'s public.zip (zero_ad.py)
        return [MeshEntry(m.object_id, root, _tuple(Y_UP_TO_Z_UP), zero_ad.LICENCE, "Wildfire Games (0 A.D.)",
                          {"member": m.member, "texture": m.texture}) for m in zero_ad.list_models(root)]
    if not root.is_dir():
        raise DataFormatError(f"mesh folder {root} does not exist or is not a directory")
    entries: list[MeshEntry] = []
    catalog_dirs = sorted(p.parent for p in root.rglob(CATALOG_FILE))
    for catalog in catalog_dirs:
        entries += _catalog_entries(root, catalog, include_doors_and_windows)
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in MESH_SUFFIXES and path.is_file() and not _inside(path, catalog_dirs):
            rotation = Y_UP_TO_Z_UP if path.suffix.lower() in Y_UP_SUFFIXES else np.eye(3)
            entries.append(MeshEntry(_object_id(root, path), path, _tuple(rotation), _licence_beside(root, path)))
    return sorted(entries, key=lambda e: e.object_id)


def load_mesh(entry: MeshEntry) -> trimesh.Scene:
    """The model of `entry` with its materials, turned +Z up. Raises DataFormatError if unreadable."""
    try:
        if "member" in entry.extra:  # a model inside 0 A.D.'s archive
            loaded = zero_ad.load_model(entry.path, entry.extra["member"], entry.extra["texture"])
        else:
            loaded = trimesh.load(entry.path, process=False)
    except DataFormatError:
        raise
    except Exception as e:  # trimesh raises many types for broken files  # noqa: BLE001
        raise DataFormatError(f"{entry.path}: cannot load mesh ({type(e).__name__}: {e})") from None
    scene = loaded if isinstance(loaded, trimesh.Scene) else trimesh.Scene(loaded)
    if not any(isinstance(g, trimesh.Trimesh) and len(g.faces) for g in scene.geometry.values()):
        raise DataFormatError(f"{entry.path}: no triangles")
    matrix = np.eye(4)
    matrix[:3, :3] = np.asarray(entry.rotation)
    scene.apply_transform(matrix)
    return scene


def _catalog_entries(root: Path, catalog: Path, include_doors_and_windows: bool) -> list[MeshEntry]:
    props = read_properties(catalog / CATALOG_FILE)
    catalog_licence = props.get("license", "unknown")
    licence_file = _licence_beside(root, catalog / CATALOG_FILE)
    entries = []
    for key, model in props.items():
        if not key.startswith("model#"):
            continue
        n = key.split("#", 1)[1]
        if props.get(f"doorOrWindow#{n}", "false").lower() == "true" and not include_doors_and_windows:
            continue
        path = catalog / model.lstrip("/")
        if path.suffix.lower() not in MESH_SUFFIXES or not path.is_file():
            continue
        rotation = Y_UP_TO_Z_UP @ _model_rotation(props.get(f"modelRotation#{n}"))
        licence = catalog_licence if licence_file == "unknown" else f"{catalog_licence} ({licence_file})"
        credit = ", ".join(x for x in (props.get(f"creator#{n}", ""), props.get("name", "")) if x)
        entries.append(MeshEntry(_object_id(root, path), path, _tuple(rotation), licence, credit,
                                 {"name": props.get(f"name#{n}", ""), "category": props.get(f"category#{n}", "")}))
    return entries


def read_properties(path: Path) -> dict[str, str]:
    """A Java .properties file (ISO-8859-1 with \\uXXXX escapes) as a dict; '=' or ':' separators."""
    text = path.read_bytes().decode("latin-1")
    values: dict[str, str] = {}
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if not line or line[0] in "#!":
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending = line[:-1]
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut < 0:
            continue
        key, value = line[:cut].strip(), line[cut + 1:].strip()
        values[key] = value.encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")
    return values


def _model_rotation(text: str | None) -> np.ndarray:
    if not text:
        return np.eye(3)
    values = [float(v) for v in text.split()]
    if len(values) != 9:
        return np.eye(3)
    return np.asarray(values).reshape(3, 3)


def _licence_beside(root: Path, path: Path) -> str:
    """Name of the nearest licence file in the folders from `path` up to `root` ("unknown" if none)."""
    folder = path.parent
    while True:
        for name in LICENCE_NAMES:
            if (folder / name).is_file():
                return str((folder / name).relative_to(root))
        if folder == root or root not in folder.parents:
            return "unknown"
        folder = folder.parent


def _inside(path: Path, folders: list[Path]) -> bool:
    return any(folder in path.parents for folder in folders)


def _object_id(root: Path, path: Path) -> str:
    return "meshes/" + path.relative_to(root).as_posix()


def _tuple(matrix: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in row) for row in np.asarray(matrix))
