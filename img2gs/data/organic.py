"""Organic procedural objects: the rounded, free-form shapes people photograph (fruit, pebbles, soaps,
plush toys, animals, figurines, shoes) as a complement to the household products of procedural.py.

`organic_object(index, seed)` is deterministic like `procedural_object`. Categories:

    superquadric  superellipsoids (pebbles, soaps, cushions, rounded gadgets), single or stacked
    blob          metaball fields (potatoes, rocks, fruit), optionally roughened by smooth noise
    creature      quadrupeds, birds and sitting teddies: smooth unions of ellipsoids and capsules
    lathe         surfaces of revolution of lobed profiles (apples, pears, gourds, mushrooms, chess-like
                  figurines) with stems and leaves
    deformed      household objects or superquadrics bent, twisted, tapered, squashed (bananas, shoes)
    figurine      toy figures: legs or a robe, torso, arms, head, hair or hat, optional stand

Implicit shapes (blob, creature, figurine) are signed fields sampled on a grid of about 48^3 points
and meshed with marching cubes (one closed, connected mesh, at most `MAX_FACES` triangles, coarser
grid if needed); they are coloured per part (vertex colours) with optional spots, stripes, mottling or
a lighter belly, or with `paint`. Objects stand on z = 0, centred on the Z axis, in arbitrary units.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import trimesh
from skimage.measure import marching_cubes

from img2gs.data.patterns import contrasting_color, random_color
from img2gs.data.primitives import cylinder, paint, place, revolved, sphere
from img2gs.data.procedural import ProceduralObject, procedural_object

Parts = list[trimesh.Trimesh]

MAX_FACES = 8000  # per implicit mesh: marching cubes on a coarser grid beyond this
GRID_POINTS = 48**3  # samples of an implicit field (before the budget check)
DEFORM_MAX_FACES = 9000  # subdivision budget of a deformed object


def organic_object(index: int, seed: int) -> ProceduralObject:
    rng = np.random.default_rng([seed, index, 0x0A6A11C])
    name = CATEGORY_NAMES[rng.integers(len(CATEGORY_NAMES))]
    parts = _stand(ORGANIC_CATEGORIES[name](rng))
    scene = trimesh.Scene()
    for k, part in enumerate(parts):
        scene.add_geometry(part, geom_name=f"{name}_{k}")
    return ProceduralObject(object_id=f"organic/{index:07d}", category=name, scene=scene)


# --- colours -----------------------------------------------------------------------------------------


def _hsv(h, s, v) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, np.clip(s, 0, 1), np.clip(v, 0, 1)))


def natural_color(rng: np.random.Generator) -> np.ndarray:
    """Fruit, vegetable, stone and fur colours (random_color for a quarter: toys come in any colour)."""
    kind = rng.integers(8)
    if kind == 0:  # red / crimson
        return _hsv(rng.uniform(-0.03, 0.03), rng.uniform(0.6, 0.95), rng.uniform(0.45, 0.9))
    if kind == 1:  # orange / yellow
        return _hsv(rng.uniform(0.06, 0.16), rng.uniform(0.6, 1.0), rng.uniform(0.7, 1.0))
    if kind == 2:  # greens
        return _hsv(rng.uniform(0.18, 0.4), rng.uniform(0.35, 0.9), rng.uniform(0.3, 0.85))
    if kind == 3:  # browns, tans, fur
        return _hsv(rng.uniform(0.04, 0.11), rng.uniform(0.3, 0.8), rng.uniform(0.2, 0.8))
    if kind == 4:  # greys, stone, black / white fur
        grey = rng.uniform(0.08, 0.92)
        return np.clip(grey * np.array([1.0, 1.0, 1.0]) + rng.normal(0, 0.03, 3), 0, 1)
    if kind == 5:  # purples (aubergine, plum)
        return _hsv(rng.uniform(0.75, 0.92), rng.uniform(0.4, 0.8), rng.uniform(0.2, 0.6))
    return random_color(rng)


def _skin_color(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.3:
        return random_color(rng)
    return _hsv(rng.uniform(0.04, 0.1), rng.uniform(0.2, 0.6), rng.uniform(0.35, 0.95))


def _rgba8(color: np.ndarray) -> np.ndarray:
    color = np.clip(np.asarray(color, dtype=np.float64), 0.0, 1.0)
    alpha = np.ones((*color.shape[:-1], 1))
    return (np.concatenate([color, alpha], -1) * 255.0 + 0.5).astype(np.uint8)


def _noise(rng: np.random.Generator, points: np.ndarray, frequency: float, waves: int = 8) -> np.ndarray:
    """Smooth random field (sum of random plane waves) at points [N, 3], roughly unit variance."""
    directions = rng.normal(size=(waves, 3)) * frequency
    phases = rng.uniform(0, 2 * np.pi, waves)
    return np.sin(points @ directions.T + phases).sum(1) * np.sqrt(2.0 / waves)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def pattern_colors(rng: np.random.Generator, points: np.ndarray, colors: np.ndarray, scale: float,
                   pattern: str | None = None) -> np.ndarray:
    """Per-vertex colours [N, 3] with a natural pattern over base `colors`: "none", "mottled",
    "spots", "stripes" or "belly" (lighter underside). `scale` is the object's size."""
    pattern = pattern or rng.choice(["none", "none", "mottled", "spots", "stripes", "belly"])
    if pattern == "none":
        return colors
    base = colors.mean(0)
    other = contrasting_color(rng, base) if rng.random() < 0.5 else np.clip(base * rng.uniform(0.3, 1.8), 0, 1)
    if pattern == "mottled":
        t = _smoothstep(0.5 + rng.uniform(0.3, 1.0) * _noise(rng, points, rng.uniform(3, 9) / scale)) * 0.8
    elif pattern == "spots":
        centres = points[rng.integers(len(points), size=rng.integers(4, 16))]
        radius = scale * rng.uniform(0.05, 0.15)
        d = np.linalg.norm(points[:, None] - centres[None], axis=-1).min(1)
        t = 1.0 - _smoothstep((d - radius) / (0.3 * radius) + 0.5)
    elif pattern == "stripes":
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        wave = np.sin(points @ direction * rng.uniform(8, 25) / scale + 0.5 * _noise(rng, points, 4 / scale))
        t = _smoothstep((wave - rng.uniform(-0.3, 0.5)) * 4 + 0.5)
    elif pattern == "belly":
        other = np.clip(base + (1 - base) * rng.uniform(0.4, 0.9), 0, 1)
        z = points[:, 2]
        low = z.min() + np.ptp(z) * rng.uniform(0.25, 0.5)
        t = 1.0 - _smoothstep((z - low) / (0.1 * scale) + 0.5)
    else:
        raise ValueError(f"unknown pattern {pattern!r}")
    return colors * (1 - t[:, None]) + other[None] * t[:, None]


# --- implicit shapes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sdf:
    """A signed distance (negative inside) of points [N, 3] with its bounding box and colour slot."""

    fn: Callable[[np.ndarray], np.ndarray]
    lo: np.ndarray
    hi: np.ndarray
    color: int = 0


def sd_ellipsoid(centre, radii, color: int = 0) -> Sdf:
    c, r = np.asarray(centre, np.float64), np.asarray(radii, np.float64)

    def fn(p):
        q = p - c
        k0 = np.linalg.norm(q / r, axis=-1)
        k1 = np.maximum(np.linalg.norm(q / (r * r), axis=-1), 1e-9)
        return k0 * (k0 - 1.0) / k1

    return Sdf(fn, c - r, c + r, color)


def sd_capsule(a, b, ra: float, rb: float | None = None, color: int = 0) -> Sdf:
    """A segment a-b with radius ra at a and rb at b (a tapered capsule, approximately)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rb = ra if rb is None else rb
    ba = b - a
    denom = max(float(ba @ ba), 1e-12)

    def fn(p):
        pa = p - a
        h = np.clip(pa @ ba / denom, 0.0, 1.0)
        return np.linalg.norm(pa - h[:, None] * ba, axis=-1) - (ra + (rb - ra) * h)

    r = max(ra, rb)
    return Sdf(fn, np.minimum(a, b) - r, np.maximum(a, b) + r, color)


def sd_round_box(centre, half, rounding: float, color: int = 0) -> Sdf:
    c, half = np.asarray(centre, np.float64), np.asarray(half, np.float64)
    rounding = min(rounding, float(half.min()) * 0.99)

    def fn(p):
        q = np.abs(p - c) - (half - rounding)
        return np.linalg.norm(np.maximum(q, 0.0), axis=-1) + np.minimum(q.max(-1), 0.0) - rounding

    return Sdf(fn, c - half, c + half, color)


def sd_cylinder(centre, radius: float, height: float, color: int = 0) -> Sdf:
    """Vertical capped cylinder."""
    c = np.asarray(centre, np.float64)

    def fn(p):
        q = p - c
        d = np.stack([np.hypot(q[:, 0], q[:, 1]) - radius, np.abs(q[:, 2]) - height / 2], -1)
        return np.minimum(d.max(-1), 0.0) + np.linalg.norm(np.maximum(d, 0.0), axis=-1)

    ext = np.array([radius, radius, height / 2])
    return Sdf(fn, c - ext, c + ext, color)


def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    return np.minimum(a, b) - h * h * k * 0.25


class _Grid:
    """Regular sample points covering a box (one cell of margin), evaluated block by block."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, voxel: float):
        self.voxel = voxel
        self.shape = tuple(int(n) for n in np.ceil((hi - lo) / voxel).astype(int) + 3)
        self.origin = (lo + hi) / 2 - voxel * (np.array(self.shape) - 1) / 2
        self.axes = [self.origin[i] + voxel * np.arange(self.shape[i]) for i in range(3)]

    def block(self, lo: np.ndarray, hi: np.ndarray) -> tuple[tuple[slice, ...], np.ndarray] | None:
        """(index slices, points [n, 3]) of the grid points inside [lo, hi]; None if there are none."""
        start = np.clip(np.floor((lo - self.origin) / self.voxel).astype(int), 0, None)
        stop = np.minimum(np.ceil((hi - self.origin) / self.voxel).astype(int) + 1, self.shape)
        if (stop <= start).any():
            return None
        index = tuple(slice(int(s), int(e)) for s, e in zip(start, stop))
        axes = [ax[i] for ax, i in zip(self.axes, index)]
        return index, np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)


def _isosurface(fill: Callable[[_Grid], np.ndarray], lo, hi, max_faces: int = MAX_FACES) -> trimesh.Trimesh:
    """Closed mesh of {field > 0}; `fill(grid)` returns the field on the grid's points [nx, ny, nz].
    The grid is made coarser until the mesh has at most `max_faces` faces; only the largest connected
    component is kept."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    voxel = (np.prod(hi - lo) / GRID_POINTS) ** (1 / 3)
    for _ in range(6):
        grid = _Grid(lo, hi, voxel)
        volume = fill(grid).astype(np.float32)
        volume[[0, -1]] = volume[:, [0, -1]] = volume[:, :, [0, -1]] = -1.0  # closed at the box
        vertices, faces, _, _ = marching_cubes(volume, 0.0, spacing=(voxel,) * 3, allow_degenerate=False)
        if len(faces) <= max_faces:
            break
        voxel *= np.sqrt(len(faces) / max_faces) * 1.03
    mesh = trimesh.Trimesh(vertices + grid.origin, faces[:, ::-1], process=False)  # outward winding
    components = trimesh.graph.connected_components(mesh.face_adjacency, nodes=np.arange(len(mesh.faces)))
    if len(components) > 1:
        keep = np.zeros(len(mesh.faces), bool)
        keep[max(components, key=len)] = True
        mesh.update_faces(keep)
        mesh.remove_unreferenced_vertices()
    return mesh


def sdf_union_mesh(parts: list[Sdf], k: float, max_faces: int = MAX_FACES) -> trimesh.Trimesh:
    """Mesh of the smooth union (blend radius `k`) of signed distances."""
    pad = 1.5 * k  # beyond this a part cannot change the sign of the union (see `_smin`)

    def fill(grid: _Grid) -> np.ndarray:
        d = np.full(grid.shape, 1e3)
        for part in parts:
            block = grid.block(part.lo - pad, part.hi + pad)
            if block is not None:
                index, points = block
                d[index] = _smin(d[index], part.fn(points).reshape(d[index].shape), k)
        return -d

    lo = np.min([p.lo for p in parts], 0) - k
    hi = np.max([p.hi for p in parts], 0) + k
    return _isosurface(fill, lo, hi, max_faces)


def part_colors(mesh: trimesh.Trimesh, parts: list[Sdf], palette: np.ndarray) -> np.ndarray:
    """[V, 3] the colour slot of the nearest part at each vertex."""
    d = np.stack([p.fn(mesh.vertices) for p in parts], 1)
    slots = np.array([p.color for p in parts])[d.argmin(1)]
    return palette[slots]


def _eyes(rng: np.random.Generator, centre, radii, size: float) -> Parts:
    """Two dark spheres on the front (+X) of an axis-aligned ellipsoidal head."""
    centre, radii = np.asarray(centre, np.float64), np.asarray(radii, np.float64)
    yaw, pitch = np.radians(rng.uniform(22, 55)), np.radians(rng.uniform(0, 25))
    color = np.full(3, rng.uniform(0.02, 0.12)) if rng.random() < 0.85 else random_color(rng, "dark")
    eyes = []
    for side in (-1, 1):
        d = np.array([np.cos(yaw) * np.cos(pitch), side * np.sin(yaw) * np.cos(pitch), np.sin(pitch)])
        surface = centre + d / np.sqrt(((d / radii) ** 2).sum())
        eyes.append(place(paint(sphere(size, 1), rng, color=color, style="solid"), surface - d * size * 0.35))
    return eyes


def _implicit_style(rng: np.random.Generator) -> str:
    """`paint` style for marching-cubes meshes: textures rarely (cylindrical mapping of a free-form
    surface shows seams)."""
    return str(rng.choice(["solid", "gradient", "texture"], p=[0.35, 0.45, 0.2]))


def _paint_implicit(rng: np.random.Generator, mesh: trimesh.Trimesh, parts: list[Sdf], palette: np.ndarray,
                    scale: float, paint_probability: float = 0.15) -> trimesh.Trimesh:
    """Per-part colours plus a pattern, or (sometimes) `paint` about the mesh's own axis."""
    if rng.random() < paint_probability:
        shift = mesh.bounds.mean(0)
        mesh.apply_translation(-shift)
        paint(mesh, rng, color=palette[0], style=_implicit_style(rng))
        mesh.apply_translation(shift)
        return mesh
    colors = pattern_colors(rng, mesh.vertices, part_colors(mesh, parts, palette), scale)
    mesh.visual.vertex_colors = _rgba8(colors)
    return mesh


# --- superquadric ------------------------------------------------------------------------------------


def _spow(x: np.ndarray, e: float) -> np.ndarray:
    return np.sign(x) * np.abs(x) ** e


def _arc_angles(e: float, rx: float, ry: float, n: int, lo: float, hi: float) -> np.ndarray:
    """n angles in [lo, hi] equally spaced in arc length along the superellipse
    (rx spow(cos t, e), ry spow(sin t, e)): boxy shapes get samples on their edges too."""
    t = np.linspace(lo, hi, 2049)
    x, y = rx * _spow(np.cos(t), e), ry * _spow(np.sin(t), e)
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    return np.interp(np.linspace(0.0, arc[-1], n), arc, t)


def superquadric(radii, e1: float, e2: float, sections: int = 64) -> trimesh.Trimesh:
    """Closed superellipsoid (|x/a|^(2/e2) + |y/b|^(2/e2))^(e2/e1) + |z/c|^(2/e1) = 1 (e ~0.2 box-like,
    1 ellipsoid, 2 octahedron-like, > 2 pinched): a latitude-longitude grid of `sections` around and
    `sections / 2` rings, spaced by arc length, with a vertex at each pole."""
    a, b, c = (float(r) for r in radii)
    rings = max(sections // 2, 4)
    eta = _arc_angles(e1, (a + b) / 2, c, rings + 1, -np.pi / 2, np.pi / 2)[1:-1]  # [R - 1] without poles
    omega = _arc_angles(e2, a, b, sections + 1, -np.pi, np.pi)[:-1]  # [S]
    ce, se = _spow(np.cos(eta), e1)[:, None], _spow(np.sin(eta), e1)[:, None]
    cw, sw = _spow(np.cos(omega), e2)[None], _spow(np.sin(omega), e2)[None]
    grid = np.stack([a * ce * cw, b * ce * sw, c * se * np.ones_like(cw)], -1).reshape(-1, 3)
    vertices = np.concatenate([grid, [[0.0, 0.0, -c], [0.0, 0.0, c]]])
    n_rings, s = eta.size, sections
    bottom, top = n_rings * s, n_rings * s + 1
    j = np.arange(s)
    jn = (j + 1) % s
    faces = []
    for k in range(n_rings - 1):
        v00, v01, v10, v11 = k * s + j, k * s + jn, (k + 1) * s + j, (k + 1) * s + jn
        faces += [np.stack([v00, v01, v11], 1), np.stack([v00, v11, v10], 1)]
    faces.append(np.stack([np.full(s, bottom), jn, j], 1))
    last = (n_rings - 1) * s
    faces.append(np.stack([np.full(s, top), last + j, last + jn], 1))
    return trimesh.Trimesh(vertices, np.concatenate(faces), process=False)


def _exponent(rng: np.random.Generator) -> float:
    return float(0.2 + 2.3 * rng.beta(1.3, 3.0))  # mostly rounded (0.3 .. 1.2), sometimes pinched


def superquadric_shape(rng: np.random.Generator) -> Parts:
    kind = rng.random()
    if kind < 0.6:  # one pebble, soap, cushion, puck, gadget body
        radii = rng.uniform([0.3, 0.25, 0.12], [1.0, 0.8, 0.9])
        mesh = superquadric(radii, _exponent(rng), _exponent(rng))
        return [paint(mesh, rng, color=natural_color(rng) if rng.random() < 0.5 else None)]
    if kind < 0.85:  # a cairn of pebbles
        parts, z, scale = [], 0.0, 1.0
        color = natural_color(rng)
        for _ in range(rng.integers(2, 5)):
            radii = rng.uniform([0.3, 0.25, 0.1], [0.6, 0.5, 0.25]) * scale
            mesh = superquadric(radii, rng.uniform(0.4, 1.1), rng.uniform(0.5, 1.1), 40)
            c = color * rng.uniform(0.75, 1.2) if rng.random() < 0.7 else natural_color(rng)
            mesh = paint(mesh, rng, color=np.clip(c, 0, 1))
            shift = rng.normal(0, 0.05, 2) * scale
            parts.append(place(mesh, (shift[0], shift[1], z + radii[2] * 0.9)))
            z += radii[2] * 1.8
            scale *= rng.uniform(0.65, 0.95)
        return parts
    # a rounded gadget (remote, mouse, speaker) with buttons
    radii = rng.uniform([0.3, 0.2, 0.08], [0.9, 0.5, 0.4])
    body = paint(superquadric(radii, rng.uniform(0.2, 0.7), rng.uniform(0.2, 0.9)), rng)
    parts = [place(body, (0, 0, radii[2]))]
    button_color = contrasting_color(rng, random_color(rng))
    for _ in range(rng.integers(1, 6)):
        r = rng.uniform(0.03, 0.12) * radii[:2].min() / 0.3
        x, y = rng.uniform(-0.6, 0.6) * radii[0], rng.uniform(-0.5, 0.5) * radii[1]
        button = superquadric([r, r, r * 0.5], 0.4, 1.0, 20)
        parts.append(place(paint(button, rng, color=button_color, style="solid"), (x, y, 2 * radii[2] - r * 0.2)))
    return parts


# --- blob --------------------------------------------------------------------------------------------


def blob(rng: np.random.Generator) -> Parts:
    """Metaballs: 3-8 anisotropic Gaussian kernels placed by a random walk (so they merge), with
    optional smooth noise (rocks, potatoes, lumpy fruit)."""
    n = int(rng.integers(3, 9))
    centres, sigmas = [np.zeros(3)], [rng.uniform(0.3, 0.5) * rng.uniform(0.7, 1.3, 3)]
    for _ in range(n - 1):
        parent = int(rng.integers(len(centres)))
        sigma = rng.uniform(0.15, 0.45) * rng.uniform(0.7, 1.3, 3)
        direction = rng.normal(size=3) * [1.0, 1.0, rng.uniform(0.3, 1.2)]
        direction /= np.linalg.norm(direction)
        reach = (sigmas[parent].mean() + sigma.mean()) * rng.uniform(0.4, 0.9)
        centres.append(centres[parent] + direction * reach)
        sigmas.append(sigma)
    centres, sigmas = np.array(centres), np.array(sigmas)
    weights = rng.uniform(0.8, 1.2, n)
    level = rng.uniform(0.35, 0.6)
    roughness = rng.choice([0.0, 0.0, rng.uniform(0.05, 0.2)])
    noise_seed = int(rng.integers(2**63))
    scale = float(np.ptp(centres, 0).max() + 2 * sigmas.max())
    frequency = rng.uniform(3, 8) / scale

    def fill(grid: _Grid) -> np.ndarray:
        field = np.zeros(grid.shape)
        for c, s, w in zip(centres, sigmas, weights):
            block = grid.block(c - 3 * s, c + 3 * s)
            if block is not None:
                index, points = block
                field[index] += w * np.exp(-(((points - c) / s) ** 2).sum(-1)).reshape(field[index].shape)
        field -= level
        if roughness:
            index, points = grid.block(np.full(3, -1e9), np.full(3, 1e9))
            field += roughness * _noise(np.random.default_rng(noise_seed), points, frequency).reshape(grid.shape)
        return field

    mesh = _isosurface(fill, centres.min(0) - 2.5 * sigmas.max(), centres.max(0) + 2.5 * sigmas.max())
    mesh.apply_translation(-mesh.bounds.mean(0))
    color = natural_color(rng)
    if rng.random() < 0.4:
        return [paint(mesh, rng, color=color, style=_implicit_style(rng))]
    sheet = pattern_colors(rng, mesh.vertices, np.broadcast_to(color, mesh.vertices.shape), scale)
    mesh.visual.vertex_colors = _rgba8(sheet)
    return [mesh]


# --- creature ----------------------------------------------------------------------------------------


def creature(rng: np.random.Generator) -> Parts:
    kind = rng.random()
    if kind < 0.55:
        return _quadruped(rng)
    if kind < 0.8:
        return _bird(rng)
    return _teddy(rng)


def _animal_palette(rng: np.random.Generator) -> np.ndarray:
    """Slots: 0 body, 1 accent (snout, feet, ear insides), 2 beak / horn, 3 extra."""
    body = natural_color(rng) if rng.random() < 0.65 else random_color(rng)
    accent = body if rng.random() < 0.5 else np.clip(body * rng.uniform(0.4, 1.6), 0, 1)
    if rng.random() < 0.3:
        accent = contrasting_color(rng, body)
    beak = _hsv(rng.uniform(0.05, 0.14), rng.uniform(0.5, 1), rng.uniform(0.6, 1)) if rng.random() < 0.6 \
        else random_color(rng, "dark")
    return np.stack([body, accent, beak, random_color(rng)])


def _quadruped(rng: np.random.Generator) -> Parts:
    """Body along +X; stockiness 0 is antelope-like (long thin legs), 1 frog / pig / teddy-like."""
    s = rng.random()
    length = 1.0
    height = length * (0.95 - 0.8 * s) * rng.uniform(0.8, 1.2)  # of the belly-top of the legs
    leg_r = length * (0.04 + 0.1 * s) * rng.uniform(0.85, 1.15)
    rx, ry = length / 2, length / 2 * rng.uniform(0.35, 0.7)
    rz = length / 2 * (0.32 + 0.25 * s) * rng.uniform(0.85, 1.15)
    cz = height + rz * 0.5
    parts = [sd_ellipsoid([0, 0, cz], [rx, ry, rz])]
    for sx in (-1, 1):
        for sy in (-1, 1):
            top = np.array([sx * (rx - leg_r * 1.5) * 0.75, sy * ry * 0.55, cz])
            foot = np.array([top[0] + rng.normal(0, 0.03), sy * ry * rng.uniform(0.5, 0.75), leg_r * 0.8])
            if rng.random() < 0.5 or s > 0.6:
                parts.append(sd_capsule(top, foot, leg_r, leg_r * rng.uniform(0.6, 1.0)))
            else:  # a knee (hocks of hind legs point backwards)
                knee = (top + foot) / 2 + [0.03 if sx > 0 else -0.06, 0, 0]
                parts.append(sd_capsule(top, knee, leg_r * 1.2, leg_r))
                parts.append(sd_capsule(knee, foot, leg_r, leg_r * 0.75))
            if s > 0.5 and rng.random() < 0.7:  # paws
                parts.append(sd_ellipsoid(foot + [leg_r * 0.5, 0, 0], [leg_r * 1.6, leg_r * 1.2, leg_r * 0.8], 1))
    # neck and head
    neck_len = length * rng.uniform(0.05, 0.6) * (1.2 - s)
    angle = np.radians(rng.uniform(15, 75))
    hr = length * rng.uniform(0.12, 0.24) * (1 + 0.4 * s)
    neck_start = np.array([rx * 0.7, 0, cz + rz * 0.3])
    head_c = neck_start + neck_len * np.array([np.cos(angle), 0, np.sin(angle)]) + [hr * 0.6, 0, hr * 0.3]
    neck_r = min(rz * 0.7, hr * rng.uniform(0.5, 0.85))
    parts.append(sd_capsule(neck_start, head_c, neck_r, neck_r * 0.8))
    head_r = np.array([hr * rng.uniform(1.0, 1.4), hr * rng.uniform(0.75, 0.95), hr * rng.uniform(0.8, 1.0)])
    parts.append(sd_ellipsoid(head_c, head_r))
    if rng.random() < 0.65:  # snout / muzzle
        snout_r = head_r * rng.uniform([0.5, 0.45, 0.4], [0.9, 0.7, 0.6])
        parts.append(sd_ellipsoid(head_c + [head_r[0] * 0.75, 0, -head_r[2] * 0.3], snout_r, 1))
    parts += _ears(rng, head_c, head_r)
    if rng.random() < 0.75:  # tail
        base = np.array([-rx * 0.92, 0, cz + rz * 0.2])
        t_len = length * rng.uniform(0.1, 0.6)
        t_angle = np.radians(rng.uniform(-60, 60))
        tip = base + t_len * np.array([-np.cos(t_angle), 0, np.sin(t_angle)])
        t_r = leg_r * rng.uniform(0.4, 1.0)
        parts.append(sd_capsule(base, tip, t_r, t_r * rng.uniform(0.3, 1.5), 0 if rng.random() < 0.7 else 1))
    palette = _animal_palette(rng)
    mesh = _paint_implicit(rng, sdf_union_mesh(parts, k=leg_r * 1.2), parts, palette, length)
    extras = _eyes(rng, head_c, head_r, hr * rng.uniform(0.12, 0.2)) if rng.random() < 0.8 else []
    return [mesh, *extras]


def _ears(rng: np.random.Generator, head_c: np.ndarray, head_r: np.ndarray) -> list[Sdf]:
    kind = rng.integers(4)
    hr = float(head_r.mean())
    parts = []
    for side in (-1, 1):
        root = head_c + [-head_r[0] * 0.2, side * head_r[1] * 0.55, head_r[2] * 0.7]
        if kind == 0:  # pointed (cat, fox, rabbit when long)
            if side < 0:
                ear_len = hr * rng.uniform(0.5, 1.8)
            tip = root + ear_len * np.array([-0.2, side * 0.35, 1.0])
            parts.append(sd_capsule(root, tip, hr * 0.28, hr * 0.06, 1))
        elif kind == 1:  # round (bear, mouse)
            if side < 0:
                ear_r = hr * rng.uniform(0.25, 0.5)
            parts.append(sd_ellipsoid(root + [0, side * ear_r * 0.3, ear_r * 0.4], [ear_r * 0.5, ear_r, ear_r], 1))
        elif kind == 2:  # floppy (dog)
            side_root = head_c + [-head_r[0] * 0.2, side * head_r[1] * 0.9, head_r[2] * 0.2]
            parts.append(sd_ellipsoid(side_root + [0, side * hr * 0.1, -hr * 0.4],
                                      [hr * 0.35, hr * 0.15, hr * 0.65], 1))
        else:  # horns (antelope, goat), mirrored
            if side < 0:
                horn = hr * rng.uniform(0.8, 2.0) * np.array([-0.6, 0.25, 1.0])
            parts.append(sd_capsule(root, root + horn * [1, side, 1], hr * 0.12, hr * 0.03, 2))
    return parts


def _bird(rng: np.random.Generator) -> Parts:
    rb = rng.uniform(0.3, 0.45)
    leg_h = rb * rng.uniform(0.2, 1.6)
    pitch = np.radians(rng.uniform(10, 45))
    body_c = np.array([0, 0, leg_h + rb * 0.85])
    body_r = np.array([rb * rng.uniform(1.1, 1.5), rb * rng.uniform(0.8, 1.0), rb])
    forward = np.array([np.cos(pitch), 0, np.sin(pitch)])
    # a tilted body: an ellipsoid along `forward` made of two overlapping spheres-ish capsules
    parts = [sd_capsule(body_c - forward * body_r[0] * 0.45, body_c + forward * body_r[0] * 0.35,
                        body_r[1], body_r[1] * 0.85)]
    hr = rb * rng.uniform(0.45, 0.7)
    head_c = body_c + forward * body_r[0] * 0.6 + [0, 0, rb * rng.uniform(0.5, 0.9) + hr * 0.4]
    head_r = np.array([hr * 1.05, hr, hr])
    parts.append(sd_ellipsoid(head_c, head_r))
    beak_len = hr * rng.uniform(0.5, 1.6)
    droop = rng.uniform(-0.5, 0.1)
    parts.append(sd_capsule(head_c + [hr * 0.7, 0, -hr * 0.1], head_c + [hr * 0.7 + beak_len, 0, beak_len * droop],
                            hr * rng.uniform(0.22, 0.4), hr * 0.04, 2))
    tail_dir = np.array([-np.cos(pitch * 0.5), 0, rng.uniform(-0.1, 0.6)])
    tail_root = body_c - forward * body_r[0] * 0.6
    parts.append(sd_ellipsoid(tail_root + tail_dir * rb * 0.5,
                              [rb * rng.uniform(0.4, 0.8), rb * rng.uniform(0.2, 0.4), rb * 0.12], 1))
    for side in (-1, 1):  # wings
        parts.append(sd_ellipsoid(body_c + [-rb * 0.15, side * body_r[1] * 0.8, rb * 0.1],
                                  [rb * 0.85, rb * 0.18, rb * 0.5], 1))
    leg_r = rb * rng.uniform(0.05, 0.1)
    if leg_h > rb * 0.3:
        for side in (-1, 1):
            hip = body_c + [0, side * rb * 0.35, -rb * 0.3]
            foot = np.array([0, side * rb * 0.4, leg_r])
            parts.append(sd_capsule(hip, foot, leg_r * 1.3, leg_r, 2))
            parts.append(sd_ellipsoid(foot + [rb * 0.15, 0, 0], [rb * 0.3, rb * 0.14, leg_r], 2))
    else:  # sitting / penguin-like: feet only
        for side in (-1, 1):
            parts.append(sd_ellipsoid([rb * 0.3, side * rb * 0.35, leg_r], [rb * 0.35, rb * 0.18, leg_r * 1.2], 2))
    palette = _animal_palette(rng)
    mesh = _paint_implicit(rng, sdf_union_mesh(parts, k=rb * 0.12), parts, palette, 2 * rb)
    return [mesh, *_eyes(rng, head_c, head_r, hr * rng.uniform(0.1, 0.18))]


def _teddy(rng: np.random.Generator) -> Parts:
    """A sitting plush animal: body, big head, ears, muzzle, arms, legs pointing forward."""
    rb = rng.uniform(0.3, 0.45)
    body_c = np.array([0, 0, rb * 1.05])
    body_r = np.array([rb * 0.85, rb * rng.uniform(0.8, 0.95), rb * rng.uniform(1.0, 1.3)])
    hr = rb * rng.uniform(0.65, 0.95)
    head_c = body_c + [rb * 0.05, 0, body_r[2] + hr * 0.7]
    head_r = np.array([hr * 0.95, hr, hr * 0.92])
    parts = [sd_ellipsoid(body_c, body_r), sd_ellipsoid(head_c, head_r)]
    parts.append(sd_ellipsoid(head_c + [hr * 0.75, 0, -hr * 0.25], [hr * 0.4, hr * 0.45, hr * 0.35], 1))
    parts += _ears(rng, head_c, head_r)
    limb_r = rb * rng.uniform(0.22, 0.32)
    for side in (-1, 1):
        hip = body_c + [rb * 0.2, side * rb * 0.5, -body_r[2] * 0.55]
        parts.append(sd_capsule(hip, [rb * rng.uniform(0.8, 1.2), side * rb * 0.65, limb_r], limb_r, limb_r * 1.1))
        shoulder = body_c + [rb * 0.1, side * body_r[1] * 0.85, body_r[2] * 0.45]
        hand = shoulder + [rb * rng.uniform(0.2, 0.7), side * rb * rng.uniform(0.2, 0.6), -rb * rng.uniform(0.3, 0.8)]
        parts.append(sd_capsule(shoulder, hand, limb_r * 0.85, limb_r * 0.9))
    palette = _animal_palette(rng)
    mesh = _paint_implicit(rng, sdf_union_mesh(parts, k=rb * 0.15), parts, palette, 2 * rb)
    return [mesh, *_eyes(rng, head_c, head_r, hr * rng.uniform(0.08, 0.15))]


# --- lathe -------------------------------------------------------------------------------------------


def lobed_profile(lobes, samples: int = 44, sharpness: float = 8.0) -> np.ndarray:
    """(radius, z) polyline of a smooth union of lobes (z centre, half height, radius, exponent n):
    r = radius * (1 - |dz / half|^2)^(1 / n), n = 2 an ellipse, < 2 pointed ends, > 2 squarer.
    Closed: starts and ends on the axis."""
    lobes = np.asarray(lobes, np.float64)
    z_lo, z_hi = (lobes[:, 0] - lobes[:, 1]).min(), (lobes[:, 0] + lobes[:, 1]).max()
    z = z_lo + (z_hi - z_lo) * (1 - np.cos(np.linspace(0, np.pi, samples))) / 2  # dense at the ends
    t = np.clip(np.abs(z[:, None] - lobes[None, :, 0]) / lobes[None, :, 1], 0, 1)
    r = lobes[None, :, 2] * (1 - t**2) ** (1 / lobes[None, :, 3])
    radius = (r**sharpness).sum(1) ** (1 / sharpness)
    radius[[0, -1]] = 0.0
    return np.stack([radius, z], 1)


def lathe(rng: np.random.Generator) -> Parts:
    kind = rng.choice(["apple", "pear", "gourd", "lemon", "mushroom", "stack"])
    if kind == "apple":
        r = rng.uniform(0.4, 0.6)
        lobes = [[0, r * rng.uniform(0.8, 1.0), r, rng.uniform(1.8, 2.5)]]
    elif kind == "pear":
        r = rng.uniform(0.35, 0.5)
        lobes = [[0, r, r, 2.0], [r * rng.uniform(0.9, 1.4), r * 0.7, r * rng.uniform(0.5, 0.7), 2.0]]
    elif kind == "gourd":
        r = rng.uniform(0.3, 0.45)
        lobes, z = [], 0.0
        for _ in range(rng.integers(2, 4)):
            lobes.append([z, r, r, rng.uniform(1.8, 2.4)])
            z += r * rng.uniform(1.0, 1.5)
            r *= rng.uniform(0.6, 1.0)
    elif kind == "lemon":
        r = rng.uniform(0.3, 0.45)
        lobes = [[0, r * rng.uniform(1.2, 1.8), r, rng.uniform(1.0, 1.6)]]
    elif kind == "mushroom":
        stem_r, stem_h = rng.uniform(0.08, 0.2), rng.uniform(0.3, 0.7)
        cap_r = rng.uniform(0.3, 0.6)
        lobes = [[stem_h / 2, stem_h / 2, stem_r, rng.uniform(2.5, 5)],
                 [stem_h, cap_r * rng.uniform(0.3, 0.7), cap_r, rng.uniform(1.8, 3.0)]]
    else:  # stacked figurine / chess-piece-like
        lobes, z = [], 0.0
        for k in range(rng.integers(3, 6)):
            half = rng.uniform(0.05, 0.25)
            r = rng.uniform(0.08, 0.4) if k else rng.uniform(0.25, 0.45)
            lobes.append([z + half, half, r, rng.uniform(1.5, 5.0)])
            z += half * rng.uniform(1.2, 1.9)
    profile = lobed_profile(lobes, sharpness=rng.uniform(5, 12))
    if kind in ("apple", "pear", "gourd"):  # dimples at the poles
        depth = (profile[:, 1].max() - profile[:, 1].min()) * rng.uniform(0.0, 0.08)
        width = profile[:, 0].max() * 0.3
        mid = profile[:, 1].mean()
        dimple = depth * np.exp(-((profile[:, 0] / width) ** 2))
        profile[:, 1] -= np.where(profile[:, 1] > mid, dimple, -dimple)
    if kind == "stack" or rng.random() < 0.3:  # a flat bottom to stand on
        cut = profile[:, 1].min() + (profile[:, 1].max() - profile[:, 1].min()) * rng.uniform(0.0, 0.06)
        keep = profile[:, 1] >= cut
        profile = np.concatenate([[[0, cut], [np.interp(cut, profile[:, 1], profile[:, 0]), cut]], profile[keep]])
    z_lo, z_hi = profile[:, 1].min(), profile[:, 1].max()
    fruit = kind in ("apple", "pear", "gourd", "lemon")
    color = natural_color(rng) if fruit or rng.random() < 0.5 else random_color(rng)
    body = place(paint(revolved(profile), rng, color=color), (0, 0, (z_lo + z_hi) / 2))
    parts = [body]
    if fruit and rng.random() < 0.7:  # a stem and perhaps a leaf
        stem_r = profile[:, 0].max() * rng.uniform(0.03, 0.07)
        stem_h = (z_hi - z_lo) * rng.uniform(0.1, 0.25)
        brown = _hsv(rng.uniform(0.05, 0.12), rng.uniform(0.4, 0.8), rng.uniform(0.2, 0.5))
        top = profile[-2, 1] if profile[-1, 0] == 0 else z_hi
        stem = place(paint(cylinder(stem_r, stem_h, 8), rng, color=brown, style="solid"), (0, 0, top + stem_h * 0.35),
                     rotate_axis=[1, 0, 0], rotate_deg=rng.uniform(-20, 20))
        parts.append(stem)
        if rng.random() < 0.5:
            leaf_len = profile[:, 0].max() * rng.uniform(0.3, 0.6)
            leaf = superquadric([leaf_len, leaf_len * 0.4, leaf_len * 0.05], 1.0, 1.0, 20)
            green = _hsv(rng.uniform(0.2, 0.35), rng.uniform(0.5, 0.9), rng.uniform(0.3, 0.7))
            parts.append(place(paint(leaf, rng, color=green, style="solid"), (leaf_len * 0.9, 0, top + stem_h * 0.4),
                               rotate_axis=[0, 1, 0], rotate_deg=-rng.uniform(10, 40)))
    return parts


# --- deformed ----------------------------------------------------------------------------------------


def deform(parts: Parts, rng: np.random.Generator, strength: float = 1.0) -> Parts:
    """Non-uniform scale, taper along Z, twist about Z and a bend along the longest axis, all smooth
    functions of position in the object's bounding box (applied to every part alike)."""
    vertices = np.concatenate([p.vertices for p in parts])
    centre = (vertices.min(0) + vertices.max(0)) / 2
    half = np.maximum((vertices.max(0) - vertices.min(0)) / 2, 1e-9)
    scale = np.exp(rng.uniform(-0.35, 0.35, 3) * strength)
    taper = rng.uniform(-0.5, 0.5) * strength if rng.random() < 0.6 else 0.0
    twist = np.radians(rng.uniform(-90, 90)) * strength if rng.random() < 0.4 else 0.0
    bend = np.radians(rng.uniform(30, 110)) * rng.choice([-1, 1]) * strength if rng.random() < 0.7 else 0.0
    long_axis = int(np.argmax(half * scale))
    bend_dir = (long_axis + 1 + int(rng.integers(2))) % 3
    for part in parts:
        part.vertices = _deformed(part.vertices, centre, half, scale, taper, twist, bend, long_axis, bend_dir)
    return parts


def _deformed(v, centre, half, scale, taper, twist, bend, long_axis, bend_dir) -> np.ndarray:
    q = v - centre
    t = q[:, 2] / half[2]  # -1 .. 1 along Z
    q[:, :2] *= (1 + taper * t)[:, None]
    if twist:
        a = twist * t
        c, s = np.cos(a), np.sin(a)
        q[:, 0], q[:, 1] = c * q[:, 0] - s * q[:, 1], s * q[:, 0] + c * q[:, 1]
    q *= scale
    if bend:
        k = bend / (2 * half[long_axis] * scale[long_axis])  # curvature: the long axis turns by `bend`
        radius = 1 / k
        s_along, p = q[:, long_axis].copy(), q[:, bend_dir].copy()
        theta = s_along * k
        q[:, long_axis] = (radius - p) * np.sin(theta)
        q[:, bend_dir] = radius - (radius - p) * np.cos(theta)
    return q + centre


def subdivide_parts(parts: Parts, max_edge: float, max_faces: int = DEFORM_MAX_FACES) -> Parts:
    """Split long edges (midpoint subdivision keeping colours and texture coordinates) so that a
    deformation bends flat faces, while the total stays under `max_faces`."""
    total = sum(len(p.faces) for p in parts)
    out = []
    for part in sorted(range(len(parts)), key=lambda i: -_max_edge(parts[i])):
        mesh = parts[part]
        while _max_edge(mesh) > max_edge and total + 3 * len(mesh.faces) <= max_faces:
            total += 3 * len(mesh.faces)
            mesh = _subdivided(mesh)
        out.append((part, mesh))
    return [mesh for _, mesh in sorted(out, key=lambda x: x[0])]


def _max_edge(mesh: trimesh.Trimesh) -> float:
    edges = mesh.vertices[mesh.edges_unique]
    return float(np.linalg.norm(edges[:, 0] - edges[:, 1], axis=-1).max()) if len(edges) else 0.0


def _subdivided(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Every face split in 4 (face f becomes faces 4f .. 4f+3), visuals carried over."""
    visual = mesh.visual
    attributes = {}
    if isinstance(visual, trimesh.visual.TextureVisuals):
        if visual.uv is not None:
            attributes["uv"] = np.asarray(visual.uv, np.float64)
    elif visual.kind == "vertex":
        attributes["color"] = np.asarray(visual.vertex_colors, np.float64)
    vertices, faces, new = trimesh.remesh.subdivide(mesh.vertices, mesh.faces, vertex_attributes=attributes)
    out = trimesh.Trimesh(vertices, faces, process=False)
    if isinstance(visual, trimesh.visual.TextureVisuals):
        out.visual = trimesh.visual.TextureVisuals(uv=new.get("uv"), material=visual.material)
    elif "color" in new:
        out.visual.vertex_colors = np.clip(new["color"] + 0.5, 0, 255).astype(np.uint8)
    elif visual.kind == "face":
        out.visual.face_colors = np.repeat(np.asarray(visual.face_colors), 4, axis=0)
    return out


def deformed(rng: np.random.Generator) -> Parts:
    kind = rng.random()
    if kind < 0.35:  # a household object, smoothly distorted
        source = procedural_object(int(rng.integers(2**31)), int(rng.integers(2**31)))
        parts = [g.copy() for g in source.scene.dump(concatenate=False) if len(g.faces)]
        size = float(np.ptp(np.concatenate([p.vertices for p in parts]), 0).max())
        return deform(subdivide_parts(parts, size / 10), rng, strength=rng.uniform(0.4, 1.0))
    if kind < 0.55:
        return _banana(rng)
    if kind < 0.75:
        return _shoe(rng)
    radii = rng.uniform([0.3, 0.2, 0.2], [1.0, 0.6, 0.8])
    mesh = paint(superquadric(radii, _exponent(rng), _exponent(rng)), rng,
                 color=natural_color(rng) if rng.random() < 0.5 else None)
    return deform([mesh], rng)


def _banana(rng: np.random.Generator) -> Parts:
    length, r = rng.uniform(0.6, 1.0), rng.uniform(0.1, 0.2)
    mesh = superquadric([length, r, r], rng.uniform(0.5, 1.0), rng.uniform(0.5, 1.0))
    x = mesh.vertices[:, 0] / length
    mesh.vertices[:, 1:] *= (1 - rng.uniform(0.3, 0.7) * np.abs(x) ** 3)[:, None]  # pointed ends
    color = _hsv(rng.uniform(0.1, 0.3), rng.uniform(0.5, 0.95), rng.uniform(0.6, 1.0)) if rng.random() < 0.7 \
        else natural_color(rng)
    mesh = paint(mesh, rng, color=color, style=rng.choice(["solid", "gradient"]))
    parts = [mesh]
    half = np.array([length, r, r])
    bend = np.radians(rng.uniform(50, 120))
    for part in parts:
        part.vertices = _deformed(part.vertices, np.zeros(3), half, np.ones(3), 0.0, 0.0, bend, 0, 2)
    return parts


def _shoe(rng: np.random.Generator) -> Parts:
    """A sole, a foot-shaped upper lower at the toe, and an ankle collar (a boot when tall)."""
    length = rng.uniform(0.8, 1.1)
    width = length * rng.uniform(0.32, 0.42)
    sole_t = length * rng.uniform(0.03, 0.08)
    upper_h = length * rng.uniform(0.18, 0.28)
    sole = superquadric([length / 2, width / 2, sole_t / 2], 0.25, rng.uniform(0.5, 0.9), 40)
    upper = superquadric([length / 2 * 0.97, width / 2 * 0.93, upper_h], rng.uniform(0.4, 0.8),
                         rng.uniform(0.6, 1.0))
    v = upper.vertices
    t = v[:, 0] / (length / 2)  # -1 heel .. 1 toe
    v[:, 2] = np.maximum(v[:, 2], 0) * (1.0 - 0.45 * _smoothstep((t + 0.2) / 1.2)) + np.minimum(v[:, 2], 0) * 0.2
    upper.vertices = v
    ankle_h = length * (rng.uniform(0.15, 0.3) if rng.random() < 0.7 else rng.uniform(0.4, 0.7))
    ankle_r = width * rng.uniform(0.4, 0.5)
    ankle = superquadric([ankle_r * 1.15, ankle_r, ankle_h / 2], rng.uniform(0.3, 0.6), 1.0, 40)
    sole_color = random_color(rng, "neutral") if rng.random() < 0.7 else random_color(rng)
    upper_color = random_color(rng)
    parts = [place(paint(sole, rng, color=sole_color, style="solid"), (0, 0, sole_t / 2)),
             place(paint(upper, rng, color=upper_color), (0, 0, sole_t * 0.8)),
             place(paint(ankle, rng, color=upper_color, style="solid"),
                   (-length / 2 + ankle_r * 1.2, 0, sole_t + ankle_h / 2 + upper_h * 0.2))]
    collar = superquadric([ankle_r * 1.0, ankle_r * 0.85, length * 0.012], 0.5, 1.0, 20)
    parts.append(place(paint(collar, rng, color=random_color(rng, "dark"), style="solid"),
                       (-length / 2 + ankle_r * 1.2, 0, sole_t + ankle_h + upper_h * 0.2)))
    if rng.random() < 0.5:
        return deform(parts, rng, strength=0.25)
    return parts


# --- figurine ----------------------------------------------------------------------------------------


def figurine(rng: np.random.Generator) -> Parts:
    """Slots: 0 skin, 1 top, 2 bottom, 3 hat / hair, 4 stand."""
    skin, top = _skin_color(rng), random_color(rng)
    bottom = random_color(rng) if rng.random() < 0.7 else top
    palette = np.stack([skin, top, bottom, random_color(rng), random_color(rng)])
    base_h = rng.uniform(0.04, 0.1) if rng.random() < 0.3 else 0.0
    leg_h = rng.uniform(0.25, 0.5)
    tw, td, th = rng.uniform(0.13, 0.25), rng.uniform(0.08, 0.15), rng.uniform(0.28, 0.5)
    z0 = base_h + leg_h  # the hips
    parts: list[Sdf] = []
    if rng.random() < 0.7:  # legs
        leg_r = rng.uniform(0.045, 0.085)
        for side in (-1, 1):
            hip = [0, side * tw * 0.5, z0 + leg_r]
            foot = [rng.uniform(-0.03, 0.05), side * (tw * 0.5 + rng.uniform(0, 0.06)), base_h + leg_r]
            parts.append(sd_capsule(hip, foot, leg_r * 1.1, leg_r, 2))
            parts.append(sd_ellipsoid(np.array(foot) + [leg_r * 0.6, 0, -leg_r * 0.3],
                                      [leg_r * 1.6, leg_r * 1.1, leg_r * 0.8], 2))
    else:  # a robe / dress
        parts.append(sd_capsule([0, 0, base_h + 0.03], [0, 0, z0 + th * 0.4], rng.uniform(0.18, 0.3), tw * 0.8, 2))
    torso_c = [0, 0, z0 + th / 2]
    if rng.random() < 0.5:
        parts.append(sd_round_box(torso_c, [td, tw, th / 2], rng.uniform(0.02, 0.08), 1))
    else:
        parts.append(sd_ellipsoid(torso_c, [td * 1.1, tw * 1.05, th / 2 * 1.1], 1))
    shoulder_z = z0 + th * 0.85
    arm_r = rng.uniform(0.03, 0.06)
    arm_len = rng.uniform(0.25, 0.42)
    for side in (-1, 1):
        up = np.radians(rng.uniform(-80, 60) if rng.random() < 0.5 else rng.uniform(-80, -40))
        out = np.radians(rng.uniform(5, 40))
        shoulder = np.array([0, side * (tw + arm_r * 0.3), shoulder_z])
        direction = np.array([rng.uniform(-0.2, 0.6), side * np.sin(out), np.sin(up)])
        hand = shoulder + arm_len * direction / np.linalg.norm(direction)
        parts.append(sd_capsule(shoulder, hand, arm_r * 1.1, arm_r, 1))
        parts.append(sd_ellipsoid(hand, [arm_r * 1.3] * 3, 0))
    hr = rng.uniform(0.1, 0.17) * (1.5 if rng.random() < 0.3 else 1.0)  # big "chibi" heads sometimes
    head_c = np.array([0, 0, z0 + th + rng.uniform(0.0, 0.05) + hr * 0.9])
    head_r = np.array([hr * 0.95, hr * 0.9, hr * 1.05])
    parts.append(sd_capsule([0, 0, z0 + th - 0.02], head_c, hr * 0.35, hr * 0.35, 0))
    parts.append(sd_ellipsoid(head_c, head_r, 0))
    extra = rng.random()
    if extra < 0.3:  # hair
        parts.append(sd_ellipsoid(head_c + [-hr * 0.15, 0, hr * 0.15], head_r * [0.95, 1.08, 1.0], 3))
    elif extra < 0.55:  # a hat: crown and brim, or a cone
        if rng.random() < 0.6:
            crown_h = hr * rng.uniform(0.5, 1.2)
            parts.append(sd_cylinder(head_c + [0, 0, hr * 0.7 + crown_h / 2], hr * 0.8, crown_h, 3))
            parts.append(sd_cylinder(head_c + [0, 0, hr * 0.75], hr * rng.uniform(1.1, 1.6), hr * 0.1, 3))
        else:
            parts.append(sd_capsule(head_c + [0, 0, hr * 0.6], head_c + [0, 0, hr * rng.uniform(1.6, 2.6)],
                                    hr * 0.9, hr * 0.05, 3))
    if base_h:
        parts.append(sd_cylinder([0, 0, base_h / 2], rng.uniform(0.25, 0.4), base_h, 4))
    mesh = _paint_implicit(rng, sdf_union_mesh(parts, k=0.03), parts, palette, 1.0, paint_probability=0.05)
    extras = _eyes(rng, head_c, head_r, hr * rng.uniform(0.08, 0.14)) if rng.random() < 0.7 else []
    return [mesh, *extras]


# --- assembly ----------------------------------------------------------------------------------------


def _stand(parts: Parts) -> Parts:
    """Move all parts together so the object stands on z = 0, centred on the Z axis."""
    vertices = np.concatenate([p.vertices for p in parts])
    lo, hi = vertices.min(0), vertices.max(0)
    shift = np.array([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    for part in parts:
        part.apply_translation(shift)
    return parts


ORGANIC_CATEGORIES: dict[str, Callable[[np.random.Generator], Parts]] = {
    "superquadric": superquadric_shape, "blob": blob, "creature": creature, "lathe": lathe,
    "deformed": deformed, "figurine": figurine,
}
CATEGORY_NAMES = tuple(ORGANIC_CATEGORIES)
