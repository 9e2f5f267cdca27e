import numpy as np
import pytest
import torch
import trimesh
from skimage.measure import marching_cubes

from img2gs.cameras import intrinsics_from_fov
from img2gs.errors import OutputError
from img2gs.mesh_render.mesh_renderer import render_coverage, render_mesh
from img2gs.splat.export_mesh import save_mesh
from img2gs.splat.mesh import (
    MeshConfig, keep_large_components, level_search, sphere_cameras, tsdf_to_mesh,
)
from img2gs.metrics import chamfer_distance, surface_chamfer
from img2gs.splat import _tsdf_torch
from img2gs.splat import _view_colors_torch
from img2gs.splat.tsdf import tsdf_fuse
from img2gs.splat.view_colors import view_colors


@pytest.fixture(scope="module")
def ball_renders():
    """Depth renders of a red ball (radius 0.5) and a blue ball far from it (radius 0.2)."""
    red = trimesh.creation.icosphere(subdivisions=4, radius=0.5)
    red.visual.vertex_colors = [255, 0, 0, 255]
    blue = trimesh.creation.icosphere(subdivisions=3, radius=0.2)
    blue.apply_translation((0.0, 0.0, 0.75))
    blue.visual.vertex_colors = [0, 0, 255, 255]
    mesh = trimesh.util.concatenate([red, blue])
    c2w = sphere_cameras(12)
    K = intrinsics_from_fov(40.0, 64, 64).expand(12, 3, 3)
    r = render_mesh(mesh, c2w, K, 64, 64, ambient=1.0)
    return mesh, r, c2w, K


def test_sphere_cameras_look_at_the_origin():
    c2w = sphere_cameras(20)
    eye = c2w[:, :3, 3]
    torch.testing.assert_close(eye.norm(dim=-1), torch.full((20,), 3.2))
    forward = -c2w[:, :3, 2]  # OpenGL cameras look along -Z
    torch.testing.assert_close(forward, -eye / 3.2, atol=1e-5, rtol=0)
    assert eye[:, 2].max() > 2.5 and eye[:, 2].min() < -2.5  # covers top and bottom


def test_numba_tsdf_matches_torch_reference(ball_renders):
    _, r, c2w, K = ball_renders
    args = (r.depth, r.rgba[..., 3], c2w, K, 40, 1.05, 0.15)
    fast, ref = tsdf_fuse(*args, backend="numba"), _tsdf_torch.tsdf_fuse(*args)
    assert fast.shape == (40, 40, 40)
    # identical maths in float32; a voxel centre landing exactly on a pixel border may flip pixel
    close = (fast - ref).abs() < 1e-4
    assert close.float().mean() > 0.999
    assert (ref < 0).any() and (ref > 0).any()


def test_tsdf_mesh_of_balls_is_accurate_and_outward(ball_renders):
    mesh_gt, r, c2w, K = ball_renders
    tsdf = tsdf_fuse(r.depth, r.rgba[..., 3], c2w, K, 64, 1.05, 4 * 2.1 / 64)
    mesh = tsdf_to_mesh(tsdf, 1.05)
    assert mesh.volume > 0  # normals point out
    assert len(mesh.split(only_watertight=False)) == 2
    assert surface_chamfer(mesh, mesh_gt, n_query=5000, n_dense=100_000) < 0.012  # voxel size 0.033
    # the small ball survives a 2% component filter but not a 50% one
    assert len(keep_large_components(mesh, 0.02).split(only_watertight=False)) == 2
    assert len(keep_large_components(mesh, 0.5).split(only_watertight=False)) == 1


@pytest.mark.parametrize("level", [0.0, 0.3, -0.3])
def test_cropped_marching_matches_the_whole_grid(ball_renders, level):
    """tsdf_to_mesh marches over the inside voxels' bounding box only: the mesh of the whole grid."""
    _, r, c2w, K = ball_renders
    tsdf = tsdf_fuse(r.depth, r.rgba[..., 3], c2w, K, 64, 1.05, 4 * 2.1 / 64)
    voxel = 2.1 / 64
    verts, faces, _, _ = marching_cubes(np.pad(tsdf.numpy(), 1, constant_values=1.0), level=level,
                                        spacing=(voxel, voxel, voxel))
    whole = np.sort(np.round(verts - voxel + (0.5 * voxel - 1.05), 6), axis=0)
    for fast in (False, True):
        mesh = tsdf_to_mesh(tsdf, 1.05, level=level, silhouette_only=fast)
        assert len(mesh.faces) == len(faces)
        np.testing.assert_allclose(np.sort(np.round(mesh.vertices, 6), axis=0), whole, atol=2e-6)


def test_coverage_render_is_the_shaded_renders_alpha(ball_renders):
    mesh, r, c2w, K = ball_renders
    coverage = render_coverage(mesh.vertices, mesh.faces, c2w, K, 64, 64)
    torch.testing.assert_close(coverage, r.rgba[..., 3])


@pytest.mark.parametrize("colors_of", [view_colors, _view_colors_torch.view_colors])
def test_vertex_colors_come_from_the_views_that_see_the_vertex(ball_renders, colors_of):
    _, r, c2w, K = ball_renders
    verts = torch.tensor([[0.0, 0.0, 0.5], [0.5, 0.0, 0.0], [0.0, 0.0, 0.95], [0.0, 0.0, 0.0]])
    colors, seen = colors_of(verts, r.rgba[..., :3], r.depth, r.rgba[..., 3], c2w, K, tolerance=0.04)
    assert seen.tolist() == [True, True, True, False]  # the centre is never visible
    # top of the red ball (under the blue one) may be seen only from the side, but it is red
    assert colors[0, 0] > 0.8 and colors[1, 0] > 0.8 and colors[2, 2] > 0.8


def test_the_view_colour_kernel_matches_its_torch_twin(ball_renders):
    _, r, c2w, K = ball_renders
    points = (torch.rand(20_000, 3, generator=torch.Generator().manual_seed(0)) * 2.4 - 1.2)  # some seen, most not
    points[:5000] = torch.nn.functional.normalize(points[:5000], dim=-1) * 0.5  # on the red ball
    args = (r.rgba[..., :3], r.depth, r.rgba[..., 3], c2w, K, 0.04)
    fast, fast_seen = view_colors(points, *args)
    slow, slow_seen = _view_colors_torch.view_colors(points, *args)
    assert bool(torch.equal(fast_seen, slow_seen)) and 1000 < int(slow_seen.sum()) < 20_000
    assert torch.allclose(fast, slow, atol=1e-6)


def test_chamfer_distance_of_shifted_points():
    a = torch.rand(500, 3)
    assert chamfer_distance(a, a) == 0.0
    assert chamfer_distance(a, a + torch.tensor([0.01, 0.0, 0.0])) == pytest.approx(0.01, rel=0.05)


def test_save_mesh_formats_and_refusals(tmp_path):
    mesh = trimesh.creation.box()
    mesh.visual.vertex_colors = [10, 200, 30, 255]
    for suffix in (".glb", ".obj", ".ply"):
        save_mesh(tmp_path / f"m{suffix}", mesh)
        back = trimesh.load(tmp_path / f"m{suffix}", force="mesh")
        assert len(back.faces) == 12
    with pytest.raises(OutputError):
        save_mesh(tmp_path / "m.stl", mesh)
    bad = trimesh.Trimesh(np.array([[0, 0, 0], [1, 0, 0], [0, np.nan, 0]]), [[0, 1, 2]], process=False)
    with pytest.raises(OutputError):
        save_mesh(tmp_path / "bad.glb", bad)
    assert not (tmp_path / "bad.glb").exists()


def test_decimation_keeps_the_surface_within_the_face_budget():
    from img2gs.splat.mesh import decimate

    sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.8)  # 20,480 faces
    small = decimate(sphere, 2000)
    assert 1000 < len(small.faces) <= 2000
    assert surface_chamfer(small, sphere) < 0.01  # still the sphere: within about 1 % of its radius
    assert decimate(sphere, 0) is sphere and decimate(sphere, 10**6) is sphere  # 0 or a larger budget: unchanged
    with pytest.raises(ValueError, match="max_faces"):
        MeshConfig(max_faces=-1)


def test_face_components_match_trimeshs_on_separate_and_touching_parts():
    from img2gs.splat.mesh import face_components

    a = trimesh.creation.icosphere(subdivisions=2)
    b = trimesh.creation.box().apply_translation([3.0, 0, 0])
    parts = trimesh.util.concatenate([a, b])
    labels = face_components(np.asarray(parts.faces), len(parts.vertices))
    reference = trimesh.graph.connected_component_labels(parts.face_adjacency, node_count=len(parts.faces))
    assert len(np.unique(labels)) == 2
    assert all(len(np.unique(labels[reference == k])) == 1 for k in np.unique(reference))  # same partition


def test_level_search_finds_where_an_increasing_area_meets_the_target():
    calls = []

    def area(level):  # a smooth, increasing, not linear area (as the covered pixels of a growing mesh)
        calls.append(level)
        return 1000.0 * (1.0 + level) ** 2

    level = level_search(area, target=1000.0 * 1.12**2, evaluations=4)
    assert len(calls) == 4 and abs(level - 0.12) < 1e-3
    calls.clear()  # a target below the first guess's area: the search goes down, not up
    level = level_search(area, target=1000.0 * 0.8**2, evaluations=4)
    assert all(lv <= 0.0 for lv in calls) and abs(level + 0.2) < 1e-3


def test_level_search_bisects_where_the_secant_cannot_be_trusted():
    # a flat area (no mesh at any level below 0.3): the secant has no slope, so the bracket is halved
    level = level_search(lambda lv: 0.0 if lv < 0.3 else 10.0, target=5.0, evaluations=6)
    assert abs(level - 0.3) < 0.01
