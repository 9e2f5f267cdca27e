"""Exported meshes in glTF's frame (+Y up, the photo's side +Z, standing on y = 0), read back without
trimesh (the writer): the GLB's own JSON + binary chunks, and the OBJ's text."""

import json
import struct

import numpy as np
import pytest
import trimesh

from img2gs.splat.asset_frame import WORLD_TO_ASSET, scaled_to_height, to_asset_frame
from img2gs.splat.export_mesh import save_mesh
from img2gs.splat.mesh import signed_volume

COMPONENTS = {5121: np.uint8, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}


def world_object() -> trimesh.Trimesh:
    """A tall box (1.6 along world +Z, the up axis) with a small marker box stuck to its +X side, the
    side the photo is taken from."""
    body = trimesh.creation.box([0.5, 0.7, 1.6])
    marker = trimesh.creation.box([0.2, 0.2, 0.2])
    marker.apply_translation([0.35, 0.0, 0.5])
    return trimesh.util.concatenate([body, marker])


def read_glb(path) -> tuple[np.ndarray, np.ndarray]:
    """(vertices [N, 3], faces [F, 3]) of the first primitive of a binary glTF, by the specification."""
    data = path.read_bytes()
    magic, version, _ = struct.unpack_from("<4sII", data, 0)
    assert magic == b"glTF" and version == 2
    json_length, json_type = struct.unpack_from("<I4s", data, 12)
    assert json_type == b"JSON"
    gltf = json.loads(data[20:20 + json_length])
    bin_start = 20 + json_length + 8
    assert all("matrix" not in node and "rotation" not in node for node in gltf.get("nodes", []))

    def accessor(index: int) -> np.ndarray:
        a = gltf["accessors"][index]
        view = gltf["bufferViews"][a["bufferView"]]
        width = {"SCALAR": 1, "VEC3": 3}[a["type"]]
        start = bin_start + view.get("byteOffset", 0) + a.get("byteOffset", 0)
        return np.frombuffer(data, COMPONENTS[a["componentType"]], a["count"] * width, start).reshape(-1, width)

    primitive = gltf["meshes"][0]["primitives"][0]
    return accessor(primitive["attributes"]["POSITION"]), accessor(primitive["indices"]).reshape(-1, 3)


def read_obj(path) -> tuple[np.ndarray, np.ndarray]:
    vertices, faces = [], []
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "v":
            vertices.append([float(x) for x in parts[1:4]])
        elif parts and parts[0] == "f":
            faces.append([int(p.split("/")[0]) - 1 for p in parts[1:4]])
    return np.array(vertices), np.array(faces)


def check_asset_frame(vertices: np.ndarray, faces: np.ndarray) -> None:
    extent = vertices.max(0) - vertices.min(0)
    assert np.allclose(extent, [0.7, 1.6, 0.7], atol=1e-5)  # the 1.6 tall side along +Y
    assert abs(vertices[:, 1].min()) < 1e-6  # standing on y = 0
    assert vertices[:, 2].max() > 0.44 > -vertices[:, 2].min()  # the marker (photo's side) towards +Z
    marker_tip = vertices[vertices[:, 2] > 0.44]
    assert np.allclose(marker_tip[:, 1].mean(), 0.8 + 0.5, atol=1e-5)  # at world z = 0.5 above the centre
    assert signed_volume(vertices, faces) > 0  # a rotation, not a mirror: faces still wind outwards


def test_the_axis_change_is_a_rotation():
    assert np.allclose(WORLD_TO_ASSET @ WORLD_TO_ASSET.T, np.eye(3)) and np.isclose(np.linalg.det(WORLD_TO_ASSET), 1.0)
    moved = to_asset_frame(world_object())
    assert np.allclose(moved.vertices.min(0)[1], 0.0)


def test_glb_and_obj_are_written_y_up_with_the_photos_side_to_plus_z(tmp_path):
    mesh = world_object()
    assert signed_volume(np.asarray(mesh.vertices), np.asarray(mesh.faces)) > 0
    save_mesh(tmp_path / "m.glb", mesh)
    check_asset_frame(*read_glb(tmp_path / "m.glb"))
    save_mesh(tmp_path / "m.obj", mesh)
    check_asset_frame(*read_obj(tmp_path / "m.obj"))
    assert np.allclose(np.asarray(mesh.vertices).max(0)[2], 0.8)  # the caller's mesh is left as it was


def test_ply_meshes_stay_in_the_world_frame(tmp_path):
    save_mesh(tmp_path / "m.ply", world_object())
    back = trimesh.load(tmp_path / "m.ply", force="mesh")
    assert np.allclose(back.vertices.max(0) - back.vertices.min(0), [0.7, 0.7, 1.6], atol=1e-5)


def test_height_scales_the_mesh_to_metres_in_either_frame(tmp_path):
    save_mesh(tmp_path / "m.glb", world_object(), height=0.12)  # a 12 cm mug
    vertices, _ = read_glb(tmp_path / "m.glb")
    assert np.ptp(vertices[:, 1]) == pytest.approx(0.12, abs=1e-6) and vertices[:, 1].min() == pytest.approx(0.0, abs=1e-7)
    assert np.ptp(vertices[:, 0]) == pytest.approx(0.12 * 0.7 / 1.6, abs=1e-6)  # uniform: proportions kept
    save_mesh(tmp_path / "m.ply", world_object(), height=2.5)
    back = trimesh.load(tmp_path / "m.ply", force="mesh")
    assert np.ptp(back.vertices[:, 2]) == pytest.approx(2.5, abs=1e-5)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="height"):
            scaled_to_height(world_object(), bad, up_axis=2)
