"""Procedural objects: connected compositions of painted primitives that resemble household products
(bottles, mugs, vases, lamps, chairs, tables, boxes, cans, toys, plants, shelves) plus free-form stacks.

`procedural_object(index, seed)` is deterministic: object `index` of a build with `seed` is always the
same. Objects stand upright on +Z in arbitrary units; the data builder normalises and frames them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import trimesh

from img2gs.data.patterns import random_color
from img2gs.data.primitives import (
    box,
    capsule,
    cylinder,
    ellipsoid,
    frustum,
    paint,
    place,
    revolved,
    sphere,
    torus,
)

Parts = list[trimesh.Trimesh]


@dataclass(frozen=True)
class ProceduralObject:
    object_id: str
    category: str
    scene: trimesh.Scene


def procedural_object(index: int, seed: int) -> ProceduralObject:
    rng = np.random.default_rng([seed, index, 0x0B1EC7])
    name = CATEGORY_NAMES[rng.integers(len(CATEGORY_NAMES))]
    parts = CATEGORIES[name](rng)
    scene = trimesh.Scene()
    for k, part in enumerate(parts):
        scene.add_geometry(part, geom_name=f"{name}_{k}")
    return ProceduralObject(object_id=f"procedural/{index:07d}", category=name, scene=scene)


def bottle(rng) -> Parts:
    rb, hb = rng.uniform(0.2, 0.45), rng.uniform(0.7, 1.6)
    rn, shoulder, neck = rb * rng.uniform(0.25, 0.5), rng.uniform(0.1, 0.4), rng.uniform(0.1, 0.35)
    top = hb + shoulder + neck
    profile = [[0, 0], [rb * 0.92, 0], [rb, 0.04], [rb, hb], [rn, hb + shoulder], [rn, top], [0, top]]
    body = place(paint(revolved(profile), rng), (0, 0, top / 2))
    cap_h = rng.uniform(0.06, 0.2)
    cap = place(paint(cylinder(rn * 1.15, cap_h), rng, style="solid"), (0, 0, top + cap_h / 2 - 0.01))
    return [body, cap]


def mug(rng) -> Parts:
    r, h = rng.uniform(0.3, 0.55), rng.uniform(0.4, 1.0)
    r_top = r * rng.uniform(0.95, 1.3)
    t = rng.uniform(0.03, 0.07)
    profile = [[0, 0], [r, 0], [r_top, h], [r_top - t, h], [r - t, t], [0, t]]
    color = random_color(rng)
    parts = [place(paint(revolved(profile), rng, color=color), (0, 0, h / 2))]
    if rng.random() < 0.75:  # a handle (else a glass or tumbler)
        major = h * rng.uniform(0.25, 0.35)
        handle = place(paint(torus(major, t * rng.uniform(0.8, 1.6), arc_deg=180), rng, color=color, style="solid"),
                       (r_top * 0.5 + r * 0.5 - t, 0, h * 0.55), rotate_axis=[1, 0, 0], rotate_deg=90)
        parts.append(handle)
    return parts


def vase(rng) -> Parts:
    h = rng.uniform(0.8, 2.0)
    knots = rng.uniform(0.15, 0.6, size=rng.integers(3, 6))
    z = np.linspace(0, h, 24)
    radii = np.interp(z, np.linspace(0, h, knots.size), knots)
    radii = np.convolve(np.pad(radii, 2, mode="edge"), np.ones(5) / 5, mode="valid")  # smooth the profile
    profile = [[0, 0]] + [[r, zz] for r, zz in zip(radii, z)]
    if rng.random() < 0.5:
        profile.append([0, h])  # closed top (a jar); else open
    parts = [place(paint(revolved(profile), rng), (0, 0, h / 2))]
    if profile[-1][0] == 0 and rng.random() < 0.5:  # a lid knob
        parts.append(place(paint(sphere(radii[-1] * 0.3), rng, style="solid"), (0, 0, h + radii[-1] * 0.2)))
    return parts


def lamp(rng) -> Parts:
    base_r, base_h = rng.uniform(0.25, 0.5), rng.uniform(0.04, 0.15)
    stem_h, stem_r = rng.uniform(0.6, 1.5), rng.uniform(0.02, 0.05)
    shade_h = rng.uniform(0.3, 0.6)
    r_low, r_high = rng.uniform(0.25, 0.55), rng.uniform(0.12, 0.35)
    metal = random_color(rng, "metal" if rng.random() < 0.5 else None)
    parts = [
        place(paint(frustum(base_r, base_r * rng.uniform(0.5, 1.0), base_h), rng, color=metal, style="solid"),
              (0, 0, base_h / 2)),
        place(paint(cylinder(stem_r, stem_h), rng, color=metal, style="solid"), (0, 0, base_h + stem_h / 2)),
    ]
    top = base_h + stem_h
    shade = revolved([[r_low, 0], [r_high, shade_h]])  # open: seen from below shows the inside
    parts.append(place(paint(shade, rng), (0, 0, top - shade_h * 0.3 + shade_h / 2)))
    if rng.random() < 0.6:
        parts.append(place(paint(sphere(min(r_high, r_low) * 0.5), rng, color=np.array([1.0, 0.95, 0.8]),
                                 style="solid"), (0, 0, top)))
    return parts


def chair(rng) -> Parts:
    w, d = rng.uniform(0.5, 0.9), rng.uniform(0.5, 0.9)
    seat_h, seat_t = rng.uniform(0.4, 0.7), rng.uniform(0.04, 0.12)
    leg = rng.uniform(0.025, 0.06)
    wood = random_color(rng, "wood" if rng.random() < 0.6 else None)
    legs_style = "texture" if rng.random() < 0.3 else "solid"
    parts = [place(paint(box([w, d, seat_t]), rng), (0, 0, seat_h))]
    round_legs = rng.random() < 0.5
    for sx in (-1, 1):
        for sy in (-1, 1):
            geom = cylinder(leg, seat_h) if round_legs else box([2 * leg, 2 * leg, seat_h])
            parts.append(place(paint(geom, rng, color=wood, style=legs_style),
                               (sx * (w / 2 - leg), sy * (d / 2 - leg), seat_h / 2)))
    if rng.random() < 0.8:  # a back (else a stool)
        back_h = rng.uniform(0.3, 0.8)
        parts.append(place(paint(box([w, seat_t, back_h]), rng, color=wood),
                           (0, -d / 2 + seat_t / 2, seat_h + back_h / 2), rotate_axis=None))
    return parts


def table(rng) -> Parts:
    h, t = rng.uniform(0.5, 1.0), rng.uniform(0.04, 0.1)
    wood = random_color(rng, "wood" if rng.random() < 0.6 else None)
    if rng.random() < 0.5:  # round, one pedestal
        r = rng.uniform(0.4, 0.8)
        return [
            place(paint(cylinder(r, t), rng, color=wood), (0, 0, h)),
            place(paint(cylinder(rng.uniform(0.03, 0.08), h), rng, style="solid"), (0, 0, h / 2)),
            place(paint(frustum(r * 0.5, r * 0.2, 0.06), rng, style="solid"), (0, 0, 0.03)),
        ]
    w, d, leg = rng.uniform(0.6, 1.4), rng.uniform(0.4, 0.9), rng.uniform(0.03, 0.06)
    parts = [place(paint(box([w, d, t]), rng, color=wood), (0, 0, h))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(place(paint(box([2 * leg, 2 * leg, h]), rng, color=wood, style="solid"),
                               (sx * (w / 2 - 2 * leg), sy * (d / 2 - 2 * leg), h / 2)))
    return parts


def package(rng) -> Parts:
    """Boxes: a single printed box, a box with a lid, or a small stack."""
    parts, z = [], 0.0
    for _ in range(rng.integers(1, 4) if rng.random() < 0.3 else 1):
        ext = rng.uniform([0.3, 0.3, 0.15], [1.0, 0.8, 1.2])
        style = "texture" if rng.random() < 0.7 else None
        parts.append(place(paint(box(ext), rng, style=style), (0, 0, z + ext[2] / 2)))
        if rng.random() < 0.3:  # a lid slightly larger than the box
            lid_t = ext[2] * 0.15
            parts.append(place(paint(box([ext[0] * 1.04, ext[1] * 1.04, lid_t]), rng, style="solid"),
                               (0, 0, z + ext[2] - lid_t / 2 + 0.005)))
        z += ext[2]
    return parts


def can(rng) -> Parts:
    r, h = rng.uniform(0.2, 0.45), rng.uniform(0.4, 1.3)
    metal = random_color(rng, "metal")
    body = place(paint(cylinder(r, h), rng, style="texture"), (0, 0, h / 2))
    rims = [place(paint(torus(r * 0.97, 0.02 + 0.02 * r), rng, color=metal, style="solid"), (0, 0, z))
            for z in (0.01, h)]
    return [body, *rims]


def toy(rng) -> Parts:
    """Stacked rounded shapes: snowman-like figures, dumbbells, simple robots."""
    kind = rng.integers(3)
    if kind == 0:
        parts, z = [], 0.0
        for k in range(rng.integers(2, 4)):
            r = rng.uniform(0.2, 0.45) * (0.8**k)
            parts.append(place(paint(sphere(r), rng), (0, 0, z + r * 0.85)))
            z += r * 1.7
        return parts
    if kind == 1:
        length, r = rng.uniform(0.6, 1.4), rng.uniform(0.05, 0.1)
        weight = rng.uniform(0.15, 0.3)
        color = random_color(rng)
        return [place(paint(capsule(r, length), rng, style="solid"), (0, 0, weight), rotate_axis=[0, 1, 0],
                      rotate_deg=90),
                place(paint(ellipsoid([weight * 0.6, weight, weight]), rng, color=color), (-length / 2, 0, weight)),
                place(paint(ellipsoid([weight * 0.6, weight, weight]), rng, color=color), (length / 2, 0, weight))]
    body = rng.uniform([0.3, 0.2, 0.4], [0.6, 0.4, 0.8])
    leg_h = rng.uniform(0.2, 0.5)
    color = random_color(rng)
    parts = [place(paint(box(body), rng, color=color), (0, 0, leg_h + body[2] / 2)),
             place(paint(box(body * [0.6, 0.9, 0.5]), rng), (0, 0, leg_h + body[2] * 1.25))]
    for sx in (-1, 1):
        parts.append(place(paint(capsule(body[0] * 0.12, leg_h), rng, style="solid"),
                           (sx * body[0] * 0.3, 0, leg_h / 2 + 0.03)))
        parts.append(place(paint(capsule(body[0] * 0.1, body[2] * 0.7), rng, color=color, style="solid"),
                           (sx * body[0] * 0.62, 0, leg_h + body[2] * 0.55)))
    return parts


def plant(rng) -> Parts:
    r, h = rng.uniform(0.25, 0.5), rng.uniform(0.3, 0.7)
    pot = place(paint(frustum(r * rng.uniform(0.6, 0.9), r, h), rng), (0, 0, h / 2))
    green = random_color(rng, "vivid") * [0.3, 1.0, 0.3] if rng.random() < 0.8 else random_color(rng)
    leaves = []
    for _ in range(rng.integers(3, 8)):
        offset = rng.normal(0, r * 0.5, 3) * [1, 1, 0.6]
        size = rng.uniform(0.5, 1.0) * r
        leaves.append(place(paint(sphere(size, 1), rng, color=green * rng.uniform(0.7, 1.1), style="solid"),
                            (offset[0], offset[1], h + size * 0.6 + abs(offset[2]))))
    return [pot, *leaves]


def shelf(rng) -> Parts:
    w, d, h = rng.uniform(0.6, 1.2), rng.uniform(0.25, 0.5), rng.uniform(0.6, 1.8)
    t = rng.uniform(0.02, 0.05)
    wood = random_color(rng, "wood" if rng.random() < 0.6 else None)
    style = "texture" if rng.random() < 0.4 else "solid"
    parts = [place(paint(box([t, d, h]), rng, color=wood, style=style), (sx * (w / 2 - t / 2), 0, h / 2))
             for sx in (-1, 1)]
    for z in np.linspace(t / 2, h - t / 2, rng.integers(2, 6)):
        parts.append(place(paint(box([w, d, t]), rng, color=wood, style=style), (0, 0, z)))
    if rng.random() < 0.5:
        parts.append(place(paint(box([w, t, h]), rng, color=wood, style="solid"), (0, -d / 2 + t / 2, h / 2)))
    return parts


def stack(rng) -> Parts:
    """A free-form tower of 2-5 random primitives, each resting on the previous one."""
    makers: list[Callable[[float], trimesh.Trimesh]] = [
        lambda s: box(rng.uniform(0.3, 1.0, 3) * s),
        lambda s: cylinder(rng.uniform(0.15, 0.5) * s, rng.uniform(0.2, 0.8) * s),
        lambda s: frustum(rng.uniform(0.1, 0.5) * s, rng.uniform(0.0, 0.5) * s + 0.01, rng.uniform(0.2, 0.8) * s),
        lambda s: sphere(rng.uniform(0.15, 0.45) * s),
        lambda s: capsule(rng.uniform(0.1, 0.25) * s, rng.uniform(0.1, 0.6) * s),
        lambda s: torus(rng.uniform(0.2, 0.4) * s, rng.uniform(0.05, 0.1) * s),
    ]
    parts, z, scale = [], 0.0, 1.0
    for _ in range(rng.integers(2, 6)):
        geom = paint(makers[rng.integers(len(makers))](scale), rng)
        low, high = geom.bounds[0, 2], geom.bounds[1, 2]
        shift = rng.normal(0, 0.08, 2) * scale
        parts.append(place(geom, (shift[0], shift[1], z - low)))
        z += high - low
        scale *= rng.uniform(0.6, 1.1)
    return parts


CATEGORIES: dict[str, Callable[[np.random.Generator], Parts]] = {
    "bottle": bottle, "mug": mug, "vase": vase, "lamp": lamp, "chair": chair, "table": table,
    "package": package, "can": can, "toy": toy, "plant": plant, "shelf": shelf, "stack": stack,
}
CATEGORY_NAMES = tuple(CATEGORIES)
