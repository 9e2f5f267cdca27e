"""UV-textured meshes: the xatlas unwrap, texel -> surface mapping, the bake, and the files written."""

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from img2gs.errors import OutputError
from img2gs.pipeline.outputs import ReconstructOutputs
from img2gs.mesh_render.texture import sample_bilinear
from img2gs.splat.export_mesh import save_mesh
from img2gs.splat.mesh_files import is_textured, mesh_files
from img2gs.splat.texture import (
    TextureConfig,
    UVMesh,
    bake_texture,
    box_charts,
    texel_surface_points,
    texture_image,
    textured_mesh,
    unwrap,
)


def position_color(points: torch.Tensor) -> torch.Tensor:
    """A colour that says where a point is: (p + 1) / 2 per axis, for points in the unit cube."""
    return ((points + 1.0) / 2.0).clamp(0.0, 1.0)


def seen_everywhere(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return position_color(points), torch.ones(len(points), dtype=torch.bool)


def test_unwrap_keeps_the_surface_and_packs_charts_into_the_unit_square():
    mesh = trimesh.creation.icosphere(subdivisions=3)
    uv_mesh = unwrap(mesh, TextureConfig(size=256))
    assert len(uv_mesh.faces) == len(mesh.faces)
    assert len(uv_mesh.vertices) >= len(mesh.vertices)  # seams split vertices
    assert np.allclose(uv_mesh.vertices, mesh.vertices[uv_mesh.source_vertex])
    assert uv_mesh.uv.min() >= 0.0 and uv_mesh.uv.max() <= 1.0
    assert np.allclose(uv_mesh.vertices[uv_mesh.faces], mesh.vertices[mesh.faces])  # the same triangles, in order


def test_box_charts_project_every_face_onto_an_axis_plane_it_faces():
    mesh = trimesh.creation.icosphere(subdivisions=3)
    vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    source, split_faces, uv = box_charts(vertices, faces, min_cosine=0.3)
    assert np.allclose(vertices[source][split_faces], vertices[faces])  # the same triangles, in order

    def area(points):  # [F, 3, D] -> [F]
        a, b = points[:, 1] - points[:, 0], points[:, 2] - points[:, 0]
        if points.shape[-1] == 2:
            return 0.5 * np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
        return 0.5 * np.linalg.norm(np.cross(a, b), axis=-1)

    ratio = area(uv[split_faces].astype(np.float64)) / area(vertices[faces])  # the cosine to the axis
    assert ratio.min() >= 0.3 - 1e-4 and ratio.max() <= 1.0 + 1e-4
    assert ratio.mean() > 0.75  # most faces keep the direction nearest their normal


def test_texel_centres_map_to_the_affine_surface_point():
    # a unit square in the z = 0.5 plane whose uv is its (x, y): texel (row r, col c) holds the point
    # u = (c + 0.5) / S, v = 1 - (r + 0.5) / S
    vertices = np.array([[0.0, 0.0, 0.5], [1.0, 0.0, 0.5], [1.0, 1.0, 0.5], [0.0, 1.0, 0.5]])
    uv_mesh = UVMesh(vertices=vertices, faces=np.array([[0, 1, 2], [0, 2, 3]]), uv=vertices[:, :2].copy(),
                     source_vertex=np.arange(4))
    size = 8
    covered, points = texel_surface_points(uv_mesh, size)
    assert covered.all()
    rows, cols = np.nonzero(covered)
    expected = np.stack([(cols + 0.5) / size, 1.0 - (rows + 0.5) / size, np.full(len(rows), 0.5)], axis=-1)
    assert np.allclose(points, expected, atol=1e-6)


def test_the_baked_texture_holds_the_colour_of_each_surface_point():
    mesh = trimesh.creation.icosphere(subdivisions=3)
    uv_mesh = unwrap(mesh, TextureConfig(size=256))
    image = bake_texture(uv_mesh, seen_everywhere, position_color, 256).astype(np.float32) / 255.0
    at_vertices = sample_bilinear(image, uv_mesh.uv)  # the renderer's lookup (v up, as trimesh's)
    truth = position_color(torch.from_numpy(uv_mesh.vertices).float()).numpy()
    assert np.abs(at_vertices - truth).mean() < 0.02
    flipped = sample_bilinear(image, uv_mesh.uv * [1.0, -1.0] + [0.0, 1.0])  # v the other way: the check can fail
    assert np.abs(flipped - truth).mean() > 0.05


def test_unseen_points_take_the_fallback_colour():
    mesh = trimesh.creation.box()
    uv_mesh = unwrap(mesh, TextureConfig(size=64))

    def seen_above(points):  # only the upper half is seen; the fallback paints the rest red
        return position_color(points), points[:, 2] > 0.0

    image = bake_texture(uv_mesh, seen_above, lambda p: torch.tensor([1.0, 0.0, 0.0]).expand(len(p), 3), 64)
    covered, points = texel_surface_points(uv_mesh, 64)
    below = image[covered][points[:, 2] < -0.01]
    assert len(below) and (below == [255, 0, 0]).all()


def read_glb_json(path) -> dict:
    data = path.read_bytes()
    length, kind = struct.unpack_from("<I4s", data, 12)
    assert data[:4] == b"glTF" and kind == b"JSON"
    return json.loads(data[20:20 + length])


def test_a_textured_glb_embeds_a_matte_texture(tmp_path):
    mesh = textured_mesh(trimesh.creation.icosphere(subdivisions=2), seen_everywhere, position_color,
                         TextureConfig(size=64))
    save_mesh(tmp_path / "m.glb", mesh)
    gltf = read_glb_json(tmp_path / "m.glb")  # read by the specification, not by the writer
    assert gltf["images"][0]["mimeType"] == "image/png"
    pbr = gltf["materials"][0]["pbrMetallicRoughness"]
    assert pbr["baseColorTexture"]["index"] == 0 and pbr["metallicFactor"] == 0.0
    assert "TEXCOORD_0" in gltf["meshes"][0]["primitives"][0]["attributes"]


def test_a_textured_obj_names_its_material_and_texture_after_its_stem(tmp_path):
    mesh = textured_mesh(trimesh.creation.icosphere(subdivisions=2), seen_everywhere, position_color,
                         TextureConfig(size=64))
    (tmp_path / "mug.png").write_bytes(b"the user's photo")
    obj, mtl, png = mesh_files(tmp_path / "mug.obj")
    assert (mtl.name, png.name) == ("mug.mtl", "mug_texture.png")
    save_mesh(obj, mesh)
    assert f"mtllib {mtl.name}" in obj.read_text()
    assert f"map_Kd {png.name}" in mtl.read_text() and "Kd 1.0" in mtl.read_text()
    assert Image.open(png).size == (64, 64)
    assert (tmp_path / "mug.png").read_bytes() == b"the user's photo"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mug.mtl", "mug.obj", "mug.png", "mug_texture.png"]
    back = trimesh.load(obj, force="mesh")
    assert texture_image(back) is not None or getattr(back.visual.material, "image", None) is not None


def test_which_meshes_are_textured_and_what_they_write():
    assert is_textured("a.glb") and is_textured("a.OBJ") and not is_textured("a.ply")
    assert not is_textured("a.glb", texture=False)
    assert mesh_files("d/a.glb") == [Path("d/a.glb")]
    assert len(mesh_files("d/a.obj")) == 3 and len(mesh_files("d/a.obj", texture=False)) == 1


def test_an_existing_texture_file_is_not_overwritten_without_force(tmp_path):
    (tmp_path / "m_texture.png").write_bytes(b"mine")
    outputs = ReconstructOutputs(ply=tmp_path / "s.ply", mesh=tmp_path / "m.obj")
    with pytest.raises(OutputError, match="m_texture.png"):
        outputs.check()
    ReconstructOutputs(ply=tmp_path / "s.ply", mesh=tmp_path / "m.obj", mesh_texture=False).check()
    outputs.with_force(True).check()
    assert (tmp_path / "m_texture.png").read_bytes() == b"mine"  # checking writes nothing
