"""Cameras and lighting of one training sample.

Poses are (elevation, azimuth, radius) in degrees on the orbit of img2gs.cameras, one row per view:

* view 0, the INPUT view: azimuth 0 (INPUT_AZIMUTH_DEG), elevation uniform in
  `config.input_elevation_deg` ([-10, 40]), radius ORBIT_RADIUS;
* views 1..V-1, the targets. With probability `config.orbit_probability` (0.5) a sample first takes
  `min(V - 1, n)` poses of `img2gs.cameras.target_orbit(n)`, exactly, for n drawn uniformly from
  `config.orbit_sizes` ({8, 12, 16}); the poses are a random subset kept in orbit order, so the
  product's own target cameras are seen verbatim in training. The remaining targets (all of them in
  the other samples) have azimuth uniform in [0, 360) and elevation uniform in
  `config.target_elevation_deg` ([-20, 50]).

Lighting: one directional light per sample, fixed in the world for all its views (so shading is
view-independent, as a photo's is), from azimuth uniform in [0, 360) and elevation uniform in
`config.light_elevation_deg`, with ambient uniform in `config.ambient`.
"""

from __future__ import annotations

import numpy as np

from img2gs.cameras import INPUT_AZIMUTH_DEG, ORBIT_RADIUS, target_orbit
from img2gs.data.config import DataBuildConfig


def sample_poses(rng: np.random.Generator, config: DataBuildConfig) -> np.ndarray:
    """[V, 3] float64 (elevation, azimuth, radius); row 0 is the input view."""
    poses = [(rng.uniform(*config.input_elevation_deg), INPUT_AZIMUTH_DEG, ORBIT_RADIUS)]
    n_targets = config.views_per_sample - 1
    if rng.random() < config.orbit_probability:
        orbit = target_orbit(int(config.orbit_sizes[rng.integers(len(config.orbit_sizes))]))
        chosen = np.sort(rng.choice(len(orbit), size=min(n_targets, len(orbit)), replace=False))
        poses += [(orbit[k].elevation, orbit[k].azimuth, orbit[k].radius) for k in chosen]
    while len(poses) < config.views_per_sample:
        poses.append((rng.uniform(*config.target_elevation_deg), rng.uniform(0.0, 360.0), ORBIT_RADIUS))
    return np.asarray(poses, dtype=np.float64)


def sample_lighting(rng: np.random.Generator, config: DataBuildConfig) -> tuple[np.ndarray, float]:
    """(unit direction towards the light [3], ambient)."""
    elevation = np.radians(rng.uniform(*config.light_elevation_deg))
    azimuth = np.radians(rng.uniform(0.0, 360.0))
    direction = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    return direction, float(rng.uniform(*config.ambient))
