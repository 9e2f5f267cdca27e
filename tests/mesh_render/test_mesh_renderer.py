"""The mesh renderer against hand computations and its pure-torch twin."""

import math

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from img2gs.cameras import intrinsics_from_fov, orbit_to_c2w, project_points, viewmat_from_c2w
from img2gs.mesh_render import render_mesh
from img2gs.mesh_render import _rasterize_torch
from img2gs.mesh_render.rasterize import rasterize
from img2gs.mesh_render.surface import corner_normals

RADIUS = 3.2
SIZE = 32


def front_camera(size=SIZE):
    """Camera on +X (azimuth 0, elevation 0) looking at the origin: image right = world +Y, up = +Z."""
    c2w = orbit_to_c2w(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([RADIUS]))
    return c2w, intrinsics_from_fov(40.0, size, size)


def facing_square(x, half_y, half_z, color=(200, 100, 50), flip=False):
    """Quad in the plane X = x facing +X, vertices (x, +-half_y, +-half_z); uv (0,0) at (-y, -z)."""
    vertices = np.array([[x, -half_y, -half_z], [x, half_y, -half_z], [x, half_y, half_z], [x, -half_y, half_z]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    if flip:
        faces = faces[:, ::-1].copy()
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    mesh.visual.face_colors = [*color, 255]
    return mesh


def expected_coverage(corners_world, c2w, K, size, supersample=1):
    """Pixels whose (sub-)sample centres fall in the projected rectangle, from project_points."""
    uv, _ = project_points(torch.tensor(corners_world, dtype=torch.float64), viewmat_from_c2w(c2w[0].double()),
                           K.double())
    u0, u1 = uv[:, 0].min().item(), uv[:, 0].max().item()
    v0, v1 = uv[:, 1].min().item(), uv[:, 1].max().item()
    s = supersample
    centres = (torch.arange(size * s, dtype=torch.float64) + 0.5) / s
    inside_u = (centres >= u0) & (centres <= u1)
    inside_v = (centres >= v0) & (centres <= v1)
    fine = (inside_v[:, None] & inside_u[None, :]).float()
    return fine.reshape(size, s, size, s).mean(dim=(1, 3))


def test_camera_facing_square_covers_predicted_pixels_at_exact_depth():
    c2w, K = front_camera()
    mesh = facing_square(0.3, 0.41, 0.27)
    out = render_mesh(mesh, c2w, K, SIZE, SIZE, supersample=1)
    expected = expected_coverage(mesh.vertices, c2w, K, SIZE)
    assert expected.sum() > 50
    assert torch.equal(out.rgba[0, ..., 3], expected)
    covered = expected > 0
    assert torch.allclose(out.depth[0][covered], torch.full_like(out.depth[0][covered], RADIUS - 0.3), atol=1e-5)
    assert (out.depth[0][~covered] == 0).all()
    assert (out.rgba[0, ..., :3][~covered] == 0).all()  # straight alpha, no colour where empty


def test_supersampled_alpha_is_subsample_coverage():
    c2w, K = front_camera()
    mesh = facing_square(0.0, 0.377, 0.213)
    out = render_mesh(mesh, c2w, K, SIZE, SIZE, supersample=4)
    expected = expected_coverage(mesh.vertices, c2w, K, SIZE, supersample=4)
    assert ((expected > 0) & (expected < 1)).any()  # the edges are partly covered
    assert torch.allclose(out.rgba[0, ..., 3], expected, atol=1e-6)
    # Straight alpha: the colour of a partly covered pixel is the surface colour, not darkened.
    partial = (expected > 0) & (expected < 1)
    assert torch.allclose(out.rgba[0][partial][:, :3], out.rgba[0][expected == 1][0, :3].expand(int(partial.sum()), 3),
                          atol=1e-6)


def test_tilted_plane_depth_and_vertex_colours_are_perspective_correct():
    """A plane tilted away from the camera: depth of each pixel is the ray / plane intersection and a
    vertex colour linear in world Y equals that linear function at the intersection point."""
    c2w, K = front_camera()
    # Plane through the origin with normal (1, 0.6, 0) (tilted about Z), square-ish patch.
    def point(y, z):
        return [-0.6 * y, y, z]

    vertices = np.array([point(-0.7, -0.6), point(0.7, -0.6), point(0.7, 0.6), point(-0.7, 0.6)])
    mesh = trimesh.Trimesh(vertices, [[0, 1, 2], [0, 2, 3]], process=False)
    red = (vertices[:, 1] + 0.7) / 1.4  # linear in world y, from 0 to 1
    mesh.visual.vertex_colors = np.stack([red, np.zeros(4), np.ones(4), np.ones(4)], -1) * 255
    out = render_mesh(mesh, c2w, K, SIZE, SIZE, supersample=1, ambient=1.0)
    covered = out.rgba[0, ..., 3] > 0
    rows, cols = torch.nonzero(covered, as_tuple=True)
    # Camera frame (OpenCV): ray direction for pixel centre, then intersect with n . X = 0 in world.
    fx, cx = K[0, 0].item(), K[0, 2].item()
    ones = torch.ones_like(cols, dtype=torch.float32)
    d_cam = torch.stack([(cols + 0.5 - cx) / fx, (rows + 0.5 - cx) / fx, ones], -1)
    cam_to_world = c2w[0, :3, :3].double() @ torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64))
    d_world = d_cam.double() @ cam_to_world.T
    origin = c2w[0, :3, 3].double()
    n = torch.tensor([1.0, 0.6, 0.0], dtype=torch.float64)
    t = -(origin @ n) / (d_world @ n)  # depth along camera z, since d_cam has z = 1
    hit = origin + t[:, None] * d_world
    assert torch.allclose(out.depth[0][covered].double(), t, atol=1e-4)
    expected_red = ((hit[:, 1] + 0.7) / 1.4).float()
    # vertex colours are quantised to uint8 by trimesh: tolerance one level
    assert torch.allclose(out.rgba[0, ..., 0][covered], expected_red, atol=1.5 / 255)
    assert torch.allclose(out.rgba[0, ..., 2][covered], torch.ones_like(expected_red), atol=1e-6)


def test_textured_quad_samples_the_right_texels():
    """Texture of four 8x8 blocks: red top-left, green top-right, blue bottom-left, white bottom-right.
    uv (0, 0) is the bottom-left of the image; the quad maps it to the image's bottom-left."""
    blocks = np.zeros((16, 16, 3), np.uint8)
    blocks[:8, :8] = (255, 0, 0)
    blocks[:8, 8:] = (0, 255, 0)
    blocks[8:, :8] = (0, 0, 255)
    blocks[8:, 8:] = (255, 255, 255)
    mesh = facing_square(0.0, 0.5, 0.5)
    uv = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    material = trimesh.visual.material.SimpleMaterial(image=Image.fromarray(blocks), diffuse=(255, 255, 255, 255))
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    c2w, K = front_camera(64)
    out = render_mesh(mesh, c2w, K, 64, 64, supersample=1, ambient=1.0)
    uv_px, _ = project_points(torch.tensor(mesh.vertices), viewmat_from_c2w(c2w[0].double()), K.double())
    (u0, v0), (u1, v1) = uv_px.min(0).values.tolist(), uv_px.max(0).values.tolist()

    def pixel_at(fu, fv):  # fraction across the quad from its top-left corner in the image
        return int(v0 + fv * (v1 - v0)), int(u0 + fu * (u1 - u0))

    for (fu, fv), rgb in {(0.25, 0.25): (1, 0, 0), (0.75, 0.25): (0, 1, 0), (0.25, 0.75): (0, 0, 1),
                          (0.75, 0.75): (1, 1, 1)}.items():
        row, col = pixel_at(fu, fv)
        assert torch.allclose(out.rgba[0, row, col, :3], torch.tensor(rgb, dtype=torch.float32), atol=1e-6), (fu, fv)
    # Material diffuse multiplies the texture (MTL Kd x map_Kd).
    mesh.visual.material = trimesh.visual.material.SimpleMaterial(image=Image.fromarray(blocks),
                                                                  diffuse=(128, 255, 255, 255))
    darker = render_mesh(mesh, c2w, K, 64, 64, supersample=1, ambient=1.0)
    row, col = pixel_at(0.75, 0.75)
    assert darker.rgba[0, row, col, 0].item() == pytest.approx(128 / 255, abs=1e-6)


@pytest.mark.parametrize("flip", [False, True])
def test_lambertian_value_for_known_normal_and_light_two_sided(flip):
    c2w, K = front_camera()
    mesh = facing_square(0.0, 0.4, 0.4, color=(200, 100, 50), flip=flip)
    albedo = torch.tensor([200, 100, 50]) / 255.0
    light = (1.0, 0.0, 1.0)  # 45 degrees from the normal +X
    out = render_mesh(mesh, c2w, K, SIZE, SIZE, supersample=1, light_dir=light, ambient=0.35)
    centre = out.rgba[0, SIZE // 2, SIZE // 2]
    assert torch.allclose(centre[:3], albedo * (0.35 + 0.65 * math.cos(math.radians(45))), atol=1e-6)
    assert torch.allclose(out.normal[0, SIZE // 2, SIZE // 2], torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)
    behind = render_mesh(mesh, c2w, K, SIZE, SIZE, supersample=1, light_dir=(-1.0, 0.0, 0.0), ambient=0.35)
    assert torch.allclose(behind.rgba[0, SIZE // 2, SIZE // 2, :3], albedo * 0.35, atol=1e-6)


def test_background_is_composited_under_partial_coverage():
    c2w, K = front_camera()
    mesh = facing_square(0.0, 0.377, 0.213, color=(0, 0, 0))
    straight = render_mesh(mesh, c2w, K, SIZE, SIZE, supersample=4)
    white = render_mesh(mesh, c2w, K, SIZE, SIZE, supersample=4, background=1.0)
    alpha = straight.rgba[..., 3]
    assert torch.allclose(white.rgba[..., 0], 1.0 - alpha, atol=1e-6)  # black surface over white
    assert torch.equal(white.rgba[..., 3], alpha)


def test_nearer_surface_occludes_and_scene_transforms_apply():
    c2w, K = front_camera()
    far = facing_square(-0.5, 0.6, 0.6, color=(0, 0, 255))
    near = facing_square(0.0, 0.2, 0.2, color=(255, 0, 0))
    scene = trimesh.Scene()
    scene.add_geometry(far)
    scene.add_geometry(near, transform=trimesh.transformations.translation_matrix([0.5, 0.0, 0.0]))
    out = render_mesh(scene, c2w, K, SIZE, SIZE, supersample=1, ambient=1.0)
    centre = out.rgba[0, SIZE // 2, SIZE // 2]
    assert torch.allclose(centre[:3], torch.tensor([1.0, 0.0, 0.0]))
    assert out.depth[0, SIZE // 2, SIZE // 2].item() == pytest.approx(RADIUS - 0.5, abs=1e-5)
    assert out.depth[0, SIZE // 2 - 6, SIZE // 2].item() == pytest.approx(RADIUS + 0.5, abs=1e-5)


def random_screen_triangles(generator, n_views=3, n_faces=40, size=24):
    screen = torch.rand(n_views, n_faces * 3, 3, generator=generator, dtype=torch.float64)
    screen[..., :2] = screen[..., :2] * (size + 8) - 4  # some triangles stick out of the image
    screen[..., 2] = 1.0 + 3.0 * screen[..., 2]
    faces = torch.arange(n_faces * 3).reshape(n_faces, 3)
    return screen, faces


@pytest.mark.parametrize("farthest", [False, True])
def test_numba_rasterizer_matches_torch_twin(generator, farthest):
    screen, faces = random_screen_triangles(generator)
    screen[1, :3, 2] = -1.0  # a triangle behind the camera is skipped by both
    face_id, bary, depth = rasterize(screen.numpy(), faces.numpy(), 24, 20, farthest=farthest)
    ref_id, ref_bary, ref_depth = _rasterize_torch.rasterize(screen, faces, 24, 20, farthest=farthest)
    assert (face_id >= 0).mean() > 0.5
    assert np.array_equal(face_id, ref_id.numpy())
    assert np.allclose(bary, ref_bary.numpy(), atol=1e-6)
    assert np.allclose(depth, ref_depth.numpy(), atol=1e-5)
    covered = face_id >= 0
    assert np.allclose(bary[covered].sum(-1), 1.0, atol=1e-5)


def test_corner_normals_keep_box_edges_sharp_and_smooth_a_sphere():
    box = trimesh.creation.box()
    normals = corner_normals(np.asarray(box.vertices), np.asarray(box.faces))
    assert np.allclose(normals, np.repeat(np.asarray(box.face_normals)[:, None], 3, axis=1), atol=1e-6)
    sphere = trimesh.creation.icosphere(subdivisions=3)
    normals = corner_normals(np.asarray(sphere.vertices), np.asarray(sphere.faces))
    radial = sphere.vertices[sphere.faces] / np.linalg.norm(sphere.vertices[sphere.faces], axis=-1, keepdims=True)
    assert np.abs(normals - radial).max() < 0.02


def test_bad_camera_shapes_are_rejected():
    mesh = facing_square(0.0, 0.4, 0.4)
    with pytest.raises(ValueError):
        render_mesh(mesh, torch.eye(3), intrinsics_from_fov(40, 8, 8), 8, 8)
    with pytest.raises(ValueError):
        render_mesh(mesh, torch.eye(4).expand(2, 4, 4), torch.eye(3).expand(3, 3, 3), 8, 8)


def test_corner_normals_are_smooth_across_split_vertices():
    sphere = trimesh.creation.icosphere(subdivisions=2)
    merged = corner_normals(np.asarray(sphere.vertices), np.asarray(sphere.faces))
    split_vertices = np.asarray(sphere.vertices)[np.asarray(sphere.faces).ravel()]  # every corner its own vertex
    split = corner_normals(split_vertices, np.arange(split_vertices.shape[0]).reshape(-1, 3))
    assert np.allclose(merged, split, atol=1e-6)


def test_numba_shading_matches_numpy_twin(generator):
    """Vertex colours, a texture sampled outside [0, 1] (wrapping), front and back faces."""
    from img2gs.mesh_render.mesh_renderer import project_vertices
    from img2gs.mesh_render import _shade_torch
    from img2gs.mesh_render.shade import shade
    from img2gs.mesh_render.surface import prepare_surface

    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.6)
    sphere.visual.vertex_colors = (np.random.default_rng(0).random((len(sphere.vertices), 4)) * 255).astype(np.uint8)
    quad = facing_square(0.2, 0.9, 0.7, flip=True)
    quad.visual = trimesh.visual.TextureVisuals(
        uv=np.array([[-0.7, -0.2], [1.6, -0.2], [1.6, 1.3], [-0.7, 1.3]]),
        material=trimesh.visual.material.SimpleMaterial(
            image=Image.fromarray((np.random.default_rng(1).random((5, 7, 3)) * 255).astype(np.uint8))))
    surface = prepare_surface(trimesh.Scene([sphere, quad]))
    c2w = orbit_to_c2w(torch.tensor([10.0, -30.0, 45.0]), torch.tensor([0.0, 150.0, 260.0]), torch.full((3,), RADIUS))
    K = intrinsics_from_fov(40.0, 40, 40).expand(3, 3, 3)
    face_id, bary, _ = rasterize(project_vertices(surface.vertices, c2w, K), surface.faces, 40, 40)
    args = (surface, face_id, bary, c2w[:, :3, 3].double().numpy(), np.array([0.48, 0.6, 0.64]), 0.3)
    rgb, normal = shade(*args)
    ref_rgb, ref_normal = _shade_torch.shade(*args)
    textured = surface.face_texture[face_id] >= 0
    assert (textured & (face_id >= 0)).sum() > 50 and ((~textured) & (face_id >= 0)).sum() > 50
    assert np.allclose(rgb, ref_rgb, atol=1e-5) and np.allclose(normal, ref_normal, atol=1e-5)
