"""0 A.D. models: the PMD reader on files written by the specification, the archive's actors giving
each model its texture, and the models entering a data build."""

import io
import struct
import zipfile

import numpy as np
import pytest
from PIL import Image

from img2gs.data.mesh_folder import find_meshes, load_mesh
from img2gs.data.zero_ad import read_pmd
from img2gs.errors import DataFormatError

TETRA = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
FACES = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], np.uint16)


def pmd_bytes(version: int = 4, uv_sets: int = 2) -> bytes:
    """A tetrahedron as PMD `version` (with `uv_sets` UV pairs from version 4 on), one bone, no props."""
    body = struct.pack("<I", len(TETRA)) + (struct.pack("<I", uv_sets) if version >= 4 else b"")
    for k, p in enumerate(TETRA):
        uvs = [(0.25 * k, 0.5)] + [(9.0, 9.0)] * ((uv_sets if version >= 4 else 1) - 1)
        body += struct.pack("<3f3f", *p, 0.0, 0.0, 1.0) + b"".join(struct.pack("<2f", *uv) for uv in uvs)
        body += bytes([0, 255, 255, 255]) + struct.pack("<4f", 1.0, 0.0, 0.0, 0.0)
    body += struct.pack("<I", len(FACES)) + FACES.tobytes()
    body += struct.pack("<I", 1) + struct.pack("<7f", 0, 0, 0, 0, 0, 0, 1)
    if version >= 2:
        body += struct.pack("<I", 0)
    return b"PSMD" + struct.pack("<II", version, len(body)) + body


@pytest.mark.parametrize("version, uv_sets", [(4, 2), (4, 1), (3, 1)])
def test_read_pmd_returns_the_written_tetrahedron(version, uv_sets):
    mesh = read_pmd(pmd_bytes(version, uv_sets))
    assert np.array_equal(mesh.positions, TETRA) and np.array_equal(mesh.faces, FACES.astype(np.int64))
    assert np.allclose(mesh.uv[:, 0], [0.0, 0.25, 0.5, 0.75]) and np.allclose(mesh.uv[:, 1], 0.5)
    assert np.allclose(mesh.normals, [0, 0, 1])


def test_malformed_pmd_is_a_data_format_error():
    good = pmd_bytes()
    for bad in (b"", b"PSMX" + good[4:], good[:60], good.replace(FACES.tobytes(), (FACES + 7).tobytes())):
        with pytest.raises(DataFormatError):
            read_pmd(bad)


def archive(tmp_path):
    """A public.zip with two models, an actor texturing the first, and a building (left out)."""
    texture = io.BytesIO()
    Image.new("RGBA", (4, 4), (200, 40, 30, 255)).save(texture, format="PNG")  # Pillow reads it by content
    path = tmp_path / "public.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("art/meshes/skeletal/goat.dae.cached.pmd", pmd_bytes())
        z.writestr("art/meshes/gaia/rock.dae.cached.pmd", pmd_bytes(3))
        z.writestr("art/meshes/structural/house.dae.cached.pmd", pmd_bytes())
        z.writestr("art/textures/skins/skeletal/goat.png.cached.dds", texture.getvalue())
        z.writestr("art/actors/fauna/goat.xml", '<actor><group><variant><mesh>skeletal/goat.dae</mesh>'
                   '<textures><texture file="skeletal/goat.png" name="baseTex"/></textures></variant></group></actor>')
    return path


def test_the_archive_lists_objects_with_their_actors_textures_and_loads_them_upright(tmp_path):
    entries = find_meshes(archive(tmp_path))
    assert [e.object_id for e in entries] == ["0ad/gaia/rock", "0ad/skeletal/goat"]  # no buildings
    rock, goat = entries
    assert goat.extra["texture"] == "art/textures/skins/skeletal/goat.png.cached.dds" and rock.extra["texture"] is None
    assert "CC-BY-SA" in goat.licence
    scene = load_mesh(goat)
    mesh = scene.to_geometry()
    assert len(mesh.faces) == 4
    # Y-up file -> Z-up world: the vertex at file y = 1 is now at z = 1
    assert np.allclose(mesh.vertices.max(0), [1.0, 0.0, 1.0]) and np.allclose(mesh.vertices.min(0), [0.0, -1.0, 0.0])
    assert mesh.visual.kind == "texture"


def test_a_data_build_takes_the_archive_as_its_mesh_source(tmp_path):
    from typer.testing import CliRunner

    from img2gs.cli import app
    from img2gs.data import ViewDataset

    out = tmp_path / "data"
    result = CliRunner().invoke(app, ["data", "build", "--preset", "tiny", "-o", str(out), "--meshes",
                                      str(archive(tmp_path)), "--procedural", "0"])
    assert result.exit_code == 0, result.output
    ids = ViewDataset(out, "train").object_ids + ViewDataset(out, "val").object_ids
    assert {i.split("/")[0] for i in ids} == {"0ad"}
