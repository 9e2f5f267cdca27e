import numpy as np
import pytest
import torch
from plyfile import PlyData

from img2gs.errors import DataFormatError, OutputError
from img2gs.splat.export_ply import load_ply, ply_property_names, save_ply
from img2gs.splat.export_splat import load_splat, save_splat
from img2gs.splat.gaussians import Gaussians
from img2gs.splat.sh import C0 as SH_C0


def random_gaussians(n: int, sh_degree: int, generator: torch.Generator) -> Gaussians:
    k = (sh_degree + 1) ** 2
    return Gaussians({
        "means": torch.randn(n, 3, generator=generator),
        "scales": torch.randn(n, 3, generator=generator) - 3,
        "quats": torch.randn(n, 4, generator=generator),
        "opacities": torch.randn(n, generator=generator),
        "sh0": torch.randn(n, 1, 3, generator=generator),
        "shN": torch.randn(n, k - 1, 3, generator=generator),
    })


@pytest.mark.parametrize("sh_degree", [0, 1, 3])
def test_ply_round_trip_is_exact(tmp_path, generator, sh_degree):
    g = random_gaussians(57, sh_degree, generator)
    save_ply(tmp_path / "scene.ply", g)
    back = load_ply(tmp_path / "scene.ply")
    assert back.sh_degree == sh_degree
    for name, value in g.params.items():
        assert torch.equal(back.params[name], value), name


def test_ply_has_exactly_the_inria_properties_in_order(tmp_path, generator):
    save_ply(tmp_path / "scene.ply", random_gaussians(5, 3, generator))
    ply = PlyData.read(str(tmp_path / "scene.ply"))
    names = [p.name for p in ply["vertex"].properties]
    expected = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
                + [f"f_rest_{i}" for i in range(45)]
                + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])
    assert names == expected == ply_property_names(3)
    assert len(names) == 62  # the number every 3DGS viewer expects for degree 3
    assert all(p.val_dtype in ("f4", "float32") for p in ply["vertex"].properties)
    assert not ply.text and ply.byte_order == "<"


def test_ply_f_rest_is_channel_major(tmp_path, generator):
    g = random_gaussians(3, 1, generator)  # K - 1 = 3 coefficients per channel
    save_ply(tmp_path / "scene.ply", g)
    v = PlyData.read(str(tmp_path / "scene.ply"))["vertex"]
    shN = g.params["shN"]  # [N, 3 coeffs, 3 channels]
    # f_rest_0..2 are red's three coefficients, f_rest_3..5 green's, f_rest_6..8 blue's
    np.testing.assert_array_equal(v["f_rest_1"], shN[:, 1, 0].numpy())
    np.testing.assert_array_equal(v["f_rest_3"], shN[:, 0, 1].numpy())
    np.testing.assert_array_equal(v["f_rest_8"], shN[:, 2, 2].numpy())
    np.testing.assert_array_equal(v["rot_0"], g.params["quats"][:, 0].numpy())  # w first


def test_ply_refuses_nan_and_leaves_no_file(tmp_path, generator):
    g = random_gaussians(4, 0, generator)
    g.params["means"][1, 2] = float("nan")
    with pytest.raises(OutputError):
        save_ply(tmp_path / "scene.ply", g)
    assert list(tmp_path.iterdir()) == []


def test_load_ply_rejects_a_mesh_ply(tmp_path):
    import trimesh

    trimesh.creation.box().export(tmp_path / "mesh.ply")
    with pytest.raises(DataFormatError):
        load_ply(tmp_path / "mesh.ply")


def test_splat_records(tmp_path, generator):
    g = random_gaussians(20, 1, generator)
    save_splat(tmp_path / "scene.splat", g)
    assert (tmp_path / "scene.splat").stat().st_size == 20 * 32
    rec = load_splat(tmp_path / "scene.splat")
    importance = np.exp(rec["scale"].astype(np.float64).sum(1)) * rec["color"][:, 3]  # sorted, most first
    first = int(np.argmax(np.exp(g.params["scales"].sum(1)) * torch.sigmoid(g.params["opacities"])))
    np.testing.assert_allclose(rec["position"][0], g.params["means"][first].numpy())
    np.testing.assert_allclose(rec["scale"][0], torch.exp(g.params["scales"][first]).numpy(), rtol=1e-6)
    rgb = np.clip(0.5 + SH_C0 * g.params["sh0"][first, 0].numpy(), 0, 1)
    np.testing.assert_allclose(rec["color"][0, :3], np.round(rgb * 255), atol=1)
    q = g.params["quats"][first] / g.params["quats"][first].norm()
    np.testing.assert_allclose((rec["rotation"][0] - 128.0) / 128.0, q.numpy(), atol=1.0 / 128)
    assert importance[0] >= np.median(importance)


def test_ascii_ply_reads_and_declared_counts_are_checked_against_the_file_size(tmp_path, generator):
    g = random_gaussians(6, 1, generator)
    save_ply(tmp_path / "scene.ply", g)
    ply = PlyData.read(str(tmp_path / "scene.ply"))
    ply.text = True
    ply.write(str(tmp_path / "ascii.ply"))
    back = load_ply(tmp_path / "ascii.ply")
    torch.testing.assert_close(back.params["means"], g.params["means"])
    data = (tmp_path / "ascii.ply").read_bytes()
    (tmp_path / "claims.ply").write_bytes(data.replace(b"element vertex 6", b"element vertex 100000000"))
    with pytest.raises(DataFormatError, match=r"100,000,000 'vertex' rows"):  # refused before plyfile allocates
        load_ply(tmp_path / "claims.ply")


@pytest.mark.parametrize("damage, problem", [
    (lambda data: b"", "empty file"),
    (lambda data: b"plyx\n" + data[4:], "not a .ply"),
    (lambda data: data[:-1], "truncated"),
    (lambda data: data.replace(b"format binary_little_endian", b"format binary_middle_endian"), "format"),
    (lambda data: data.replace(b"property float x", b"property float128 x"), "property line"),
    (lambda data: data.replace(b"element vertex 4", b"element vertex -4"), "element line"),
    (lambda data: data.replace(b"end_header\n", b"end_headr\n"), "unexpected line"),
])
def test_load_ply_refuses_damaged_files(tmp_path, generator, damage, problem):
    save_ply(tmp_path / "scene.ply", random_gaussians(4, 0, generator))
    (tmp_path / "bad.ply").write_bytes(damage((tmp_path / "scene.ply").read_bytes()))
    with pytest.raises(DataFormatError, match=problem):
        load_ply(tmp_path / "bad.ply")
