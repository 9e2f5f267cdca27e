"""Organic procedural objects (organic.py): every category builds finite, bounded, closed meshes that
stand on z = 0, deterministically, and renders to a visible silhouette.

`python tests/viewgen/test_organic.py [OUT.png]` writes a contact sheet of 24 objects rendered from the
input camera of the data builder (default /tmp/organic_sheet.png), to look at them.
"""

import sys
import time

import numpy as np
import pytest
import torch
import trimesh

from img2gs.cameras import FOV_DEG, ORBIT_RADIUS, intrinsics_from_fov, orbit_to_c2w
from img2gs.data.framing import hull_points, unit_sphere_transform
from img2gs.mesh_render import prepare_surface, render_mesh
from img2gs.mesh_render.surface import transformed
from img2gs.data.organic import (
    CATEGORY_NAMES,
    ORGANIC_CATEGORIES,
    _deformed,
    organic_object,
    subdivide_parts,
    superquadric,
)
from img2gs.data.primitives import box, paint

MAX_OBJECT_FACES = 10_000
IMPLICIT = ("blob", "creature", "figurine")  # marching-cubes categories: the first part is closed


def total_faces(parts) -> int:
    return sum(len(p.faces) for p in parts)


def closed_copy(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Vertices merged (textured meshes are split per face) to judge watertightness."""
    return trimesh.Trimesh(mesh.vertices, mesh.faces, process=True)


@pytest.mark.parametrize("name", CATEGORY_NAMES)
def test_every_category_builds_finite_bounded_painted_meshes(name):
    for k in range(4):
        parts = ORGANIC_CATEGORIES[name](np.random.default_rng([5, k]))
        assert parts and all(isinstance(p, trimesh.Trimesh) for p in parts)
        for p in parts:
            assert len(p.faces) > 0 and np.isfinite(p.vertices).all()
            assert p.visual.kind in ("face", "vertex", "texture")  # painted, not trimesh's default grey
        assert total_faces(parts) <= MAX_OBJECT_FACES
        if name in IMPLICIT:
            body = closed_copy(parts[0])
            assert body.is_watertight and body.volume > 0  # closed, outward normals
            assert len(parts[0].faces) <= 8000


def test_objects_have_ids_categories_and_stand_centred_on_the_ground():
    seen = set()
    for i in range(48):
        obj = organic_object(i, 3)
        assert obj.object_id == f"organic/{i:07d}"
        assert obj.category in ORGANIC_CATEGORIES
        seen.add(obj.category)
        vertices = np.concatenate([g.vertices for g in obj.scene.geometry.values()])
        lo, hi = vertices.min(0), vertices.max(0)
        assert abs(lo[2]) < 1e-9 and np.allclose((lo[:2] + hi[:2]) / 2, 0.0, atol=1e-9)
        assert (hi - lo).max() > 0.1  # not degenerate
    assert seen == set(CATEGORY_NAMES)


def surface_arrays(index: int, seed: int):
    s = prepare_surface(organic_object(index, seed).scene)
    return s.vertices, s.faces, s.corner_colors, s.corner_uv, s.textures


def test_same_index_and_seed_give_identical_objects_and_others_differ():
    for i in range(12):
        a, b = surface_arrays(i, 7), surface_arrays(i, 7)
        for x, y in zip(a[:4], b[:4]):
            assert np.array_equal(x, y)
        assert len(a[4]) == len(b[4]) and all(np.array_equal(x, y) for x, y in zip(a[4], b[4]))
    shapes = [surface_arrays(i, 7)[0] for i in range(12)]
    for i in range(len(shapes)):
        for j in range(i):
            assert shapes[i].shape != shapes[j].shape or not np.allclose(shapes[i], shapes[j])
    other_seed = surface_arrays(0, 8)[0]
    assert other_seed.shape != shapes[0].shape or not np.allclose(other_seed, shapes[0])


def test_generation_is_fast():
    start = time.perf_counter()
    for i in range(24):
        organic_object(i, 11)
    assert (time.perf_counter() - start) / 24 < 0.3  # typical: ~0.02 s an object


@pytest.mark.parametrize("e1,e2", [(1.0, 1.0), (0.2, 0.3), (0.5, 1.5), (2.5, 0.8)])
def test_superquadric_is_closed_and_on_its_implicit_surface(e1, e2):
    radii = np.array([0.7, 0.4, 0.25])
    mesh = superquadric(radii, e1, e2)
    x, y, z = np.abs(mesh.vertices / radii).T
    f = (x ** (2 / e2) + y ** (2 / e2)) ** (e2 / e1) + z ** (2 / e1)
    assert np.allclose(f, 1.0, atol=1e-6)
    assert mesh.is_watertight and mesh.volume > 0
    assert np.allclose(mesh.bounds, [-radii, radii], atol=1e-9)  # arc-length sampling reaches the extremes


def test_bend_maps_the_long_axis_onto_an_arc():
    s = np.linspace(-1.0, 1.0, 21)
    points = np.stack([s, np.zeros_like(s), np.zeros_like(s)], 1)
    half = np.array([1.0, 0.2, 0.2])
    bent = _deformed(points, np.zeros(3), half, np.ones(3), 0.0, 0.0, np.pi / 2, 0, 2)
    radius = 2.0 / (np.pi / 2)  # the length 2 turns by 90 degrees
    assert np.allclose(np.linalg.norm(bent - [0, 0, radius], axis=1), radius)
    assert np.allclose(np.linalg.norm(np.diff(bent, axis=0), axis=1), 0.1, rtol=1e-2)  # arc length kept


@pytest.mark.parametrize("style", ["solid", "gradient", "texture"])
def test_subdivision_keeps_the_look(style):
    mesh = paint(box([1.0, 0.5, 0.3]), np.random.default_rng(0), style=style)
    before = prepare_surface(mesh)
    (fine,) = subdivide_parts([mesh], max_edge=0.3)
    after = prepare_surface(fine)
    assert after.num_faces > before.num_faces and after.num_faces % before.num_faces == 0
    assert np.allclose(after.corner_colors.reshape(-1, 3).mean(0), before.corner_colors.reshape(-1, 3).mean(0),
                       atol=0.05)
    assert len(after.textures) == len(before.textures)
    if style == "texture":
        assert np.isclose(after.corner_uv.min(), before.corner_uv.min())
        assert np.isclose(after.corner_uv.max(), before.corner_uv.max())


def front_render(scene, size=32):
    surface = prepare_surface(scene)
    placed = transformed(surface, unit_sphere_transform(hull_points(surface.vertices)))
    c2w = orbit_to_c2w(torch.tensor([15.0]), torch.tensor([0.0]), torch.tensor([ORBIT_RADIUS]))
    K = intrinsics_from_fov(FOV_DEG, size, size)
    return render_mesh(placed, c2w, K, size, size, supersample=1).rgba[0].numpy()


def test_one_object_of_every_category_renders_a_silhouette():
    found = {}
    for i in range(200):
        obj = organic_object(i, 0)
        found.setdefault(obj.category, obj)
        if len(found) == len(CATEGORY_NAMES):
            break
    for name, obj in found.items():
        rgba = front_render(obj.scene)
        coverage = (rgba[..., 3] > 0).mean()
        assert 0.01 < coverage < 0.95, (name, coverage)  # thin bananas cover ~4 %
        assert np.isfinite(rgba).all() and rgba[..., :3][rgba[..., 3] > 0].max() > 0.02, name


def contact_sheet(path: str = "/tmp/organic_sheet.png", count: int = 24, seed: int = 0, columns: int = 6) -> None:
    """Objects 0..count-1 rendered from the input camera as the data builder does, in a grid."""
    from PIL import Image, ImageDraw

    from img2gs.data.config import DataBuildConfig
    from img2gs.data.sample import render_sample

    config = DataBuildConfig(resolution=96, views_per_sample=2)
    tile = 2 * config.resolution
    rows = -(-count // columns)
    sheet = Image.new("RGB", (columns * tile, rows * tile))
    for i in range(count):
        obj = organic_object(i, seed)
        surface = prepare_surface(obj.scene, max_texture_size=4 * config.resolution)
        sample = render_sample(surface, hull_points(surface.vertices), np.random.default_rng([seed, i]), config)
        rgba = sample.images[0].astype(np.float32) / 255.0
        rgb = rgba[..., :3] * rgba[..., 3:] + 0.85 * (1.0 - rgba[..., 3:])
        image = Image.fromarray((rgb * 255.0 + 0.5).astype(np.uint8)).resize((tile, tile), Image.NEAREST)
        ImageDraw.Draw(image).text((3, 2), f"{i} {obj.category}", fill=(0, 0, 0))
        sheet.paste(image, ((i % columns) * tile, (i // columns) * tile))
    sheet.save(path)


if __name__ == "__main__":
    contact_sheet(*sys.argv[1:2])
