"""0 A.D.'s game art as training meshes: PMD models with their actors' textures, read straight from the
game's `mods/public/public.zip` (Debian's `0ad-data` package, CC-BY-SA 3.0, Wildfire Games; never
committed: scripts/fetch_0ad.sh unpacks the one archive into data/0ad/).

The archive holds ~4,000 models as `art/meshes/<category>/<name>.dae.cached.pmd`: `skeletal` (animals and
people), `gaia` (plants, rocks), `props` (pots, tools, furniture...), `structural` (buildings: left out,
they are scenes rather than objects). An actor XML (`art/actors/**.xml`) names a model
(`<mesh>skeletal/wolf.dae</mesh>`) and its textures (`<texture file="skeletal/animal_wolf.png"
name="baseTex"/>`, stored as `art/textures/skins/<file>.cached.dds`, which Pillow decodes); a model takes
the base texture of the first actor that names it, and a plain colour where none does.

PMD (version 4; https://trac.wildfiregames.com/wiki/PMD_File_Format), little-endian:
    "PSMD", u32 version, u32 data_size,
    u32 numVertices, u32 numTexCoords,
    numVertices x {float3 position, float3 normal, numTexCoords x float2 uv, u8 bones[4], float weights[4]},
    u32 numFaces, numFaces x u16[3], then bones and prop points (not read).
Versions 1-3 have one UV pair and no numTexCoords. Positions are Y-up, in the rest pose.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import trimesh

from img2gs.errors import DataFormatError

CATEGORIES = ("skeletal", "gaia", "props")
LICENCE = "CC-BY-SA 3.0, 0 A.D. art by Wildfire Games (Debian package 0ad-data)"
MESH_PREFIX, MESH_SUFFIX = "art/meshes/", ".dae.cached.pmd"
TEXTURE_PREFIX, TEXTURE_SUFFIX = "art/textures/skins/", ".cached.dds"
_MESH_TAG = re.compile(r"<mesh>\s*([^<\s]+)\s*</mesh>")
_BASE_TEXTURE = re.compile(r"<texture\s+file=\"([^\"]+)\"\s+name=\"baseTex\"")


@dataclass(frozen=True)
class PmdMesh:
    positions: np.ndarray  # [N, 3] float32, the file's frame (Y up)
    normals: np.ndarray  # [N, 3] float32
    uv: np.ndarray  # [N, 2] float32, the first UV set
    faces: np.ndarray  # [F, 3] int64


def read_pmd(data: bytes, where: str = "PMD") -> PmdMesh:
    """Parse a PMD model (see the module docstring). Raises DataFormatError on anything malformed."""
    try:
        magic, version = struct.unpack_from("<4sI", data, 0)
        if magic != b"PSMD" or not 1 <= version <= 4:
            raise DataFormatError(f"{where}: not a PMD model (magic {magic!r}, version {version})")
        offset = 12
        (n_vertices,) = struct.unpack_from("<I", data, offset)
        offset += 4
        n_uv = 1
        if version >= 4:
            (n_uv,) = struct.unpack_from("<I", data, offset)
            offset += 4
        if n_uv == 0 or n_vertices == 0:
            raise DataFormatError(f"{where}: no vertices or no UV set")
        vertex = np.dtype([("position", "<f4", 3), ("normal", "<f4", 3), ("uv", "<f4", (n_uv, 2)),
                           ("bones", "u1", 4), ("weights", "<f4", 4)])
        vertices = np.frombuffer(data, vertex, n_vertices, offset)
        offset += vertex.itemsize * n_vertices
        (n_faces,) = struct.unpack_from("<I", data, offset)
        faces = np.frombuffer(data, "<u2", 3 * n_faces, offset + 4).reshape(-1, 3).astype(np.int64)
    except (struct.error, ValueError) as e:
        raise DataFormatError(f"{where}: truncated or malformed PMD ({e})") from None
    if n_faces == 0 or int(faces.max()) >= n_vertices:
        raise DataFormatError(f"{where}: no faces, or a face indexes past the {n_vertices} vertices")
    return PmdMesh(vertices["position"].copy(), vertices["normal"].copy(), vertices["uv"][:, 0].copy(), faces)


def base_textures(archive: zipfile.ZipFile) -> dict[str, str]:
    """PMD member -> DDS member of its base texture, from the first actor (in name order) naming both."""
    members = set(archive.namelist())
    textures: dict[str, str] = {}
    for name in sorted(n for n in members if n.startswith("art/actors/") and n.endswith(".xml")):
        text = archive.read(name).decode("utf-8", errors="replace")
        meshes, skins = _MESH_TAG.findall(text), _BASE_TEXTURE.findall(text)
        if not (meshes and skins):
            continue
        skin = TEXTURE_PREFIX + skins[0] + TEXTURE_SUFFIX
        for mesh in meshes:
            member = MESH_PREFIX + str(PurePosixPath(mesh).with_suffix("")) + MESH_SUFFIX
            if member in members and skin in members:
                textures.setdefault(member, skin)
    return textures


@dataclass(frozen=True)
class ZeroAdModel:
    object_id: str  # "0ad/<category>/<name>"
    member: str  # the PMD member of the archive
    texture: str | None  # the DDS member of its base texture, None where no actor names one


def list_models(archive_path: str | Path, categories: tuple[str, ...] = CATEGORIES) -> list[ZeroAdModel]:
    """The models of `categories` in the archive, sorted by member name."""
    try:
        with zipfile.ZipFile(archive_path) as archive:
            textures = base_textures(archive)
            members = sorted(n for n in archive.namelist()
                             if n.endswith(MESH_SUFFIX) and n.split("/")[2:3] and n.split("/")[2] in categories)
    except (OSError, zipfile.BadZipFile) as e:
        raise DataFormatError(f"{archive_path}: cannot read the archive ({e})") from None
    return [ZeroAdModel("0ad/" + m[len(MESH_PREFIX):-len(MESH_SUFFIX)], m, textures.get(m)) for m in members]


def load_model(archive_path: str | Path, member: str, texture: str | None) -> trimesh.Trimesh:
    """One model of the archive, textured when `texture` is given, in its file's frame (Y up)."""
    from PIL import Image

    try:
        with zipfile.ZipFile(archive_path) as archive:
            pmd = read_pmd(archive.read(member), f"{archive_path}:{member}")
            image = Image.open(io.BytesIO(archive.read(texture))).convert("RGBA") if texture else None
    except (OSError, KeyError, zipfile.BadZipFile) as e:
        raise DataFormatError(f"{archive_path}:{member}: cannot read ({e})") from None
    mesh = trimesh.Trimesh(pmd.positions, pmd.faces, vertex_normals=pmd.normals, process=False)
    if image is not None:
        uv = pmd.uv * np.array([1.0, -1.0]) + np.array([0.0, 1.0])  # DDS rows run top-down: v = 1 - v
        mesh.visual = trimesh.visual.TextureVisuals(uv=uv, material=trimesh.visual.material.SimpleMaterial(
            image=image, diffuse=[255, 255, 255, 255]))  # the texture as it is (the default diffuse is grey)
    return mesh
