"""`DataBuildConfig`: everything that decides the content of a view-generator training set.

Presets live in `configs/data/{tiny,cpu,gpu}.json`. The resolved config is stored in the dataset's
`meta.json`, so a dataset says how it was made.
"""

from __future__ import annotations

from dataclasses import dataclass

from img2gs.errors import PresetError


@dataclass(frozen=True)
class DataBuildConfig:
    # --- what to render -------------------------------------------------------------------------
    resolution: int = 64
    """Side of the square images, pixels."""
    views_per_sample: int = 10
    """V: view 0 is the input view, views 1..V-1 are targets."""
    procedural_objects: int = 2000
    """How many procedural objects (one sample each, times `samples_per_procedural_object`)."""
    organic_objects: int = 0
    """How many organic procedural objects (organic.py: blobs, creatures, lathes, deformed shapes)."""
    samples_per_procedural_object: int = 1
    samples_per_mesh: int = 4
    """Samples per mesh of a mesh folder (each with its own rotation, light and cameras)."""
    max_meshes: int = 0
    """Use at most this many meshes of a mesh folder (0 = all), chosen deterministically."""
    max_mesh_faces: int = 300_000
    """Meshes with more triangles are skipped (counted in meta.json)."""
    include_doors_and_windows: bool = False
    """Sweet Home 3D catalogs: keep door / window models (flat panels, rarely product-like)."""

    # --- object placement (the framing contract, see framing.py) --------------------------------
    input_elevation_deg: tuple[float, float] = (-10.0, 40.0)
    """Range of the input view's elevation; its azimuth is always 0."""
    input_fill: float = 0.8
    """Longer side of the input view's alpha bounding box / image side (img2gs.cameras.INPUT_FILL)."""
    max_object_radius: float = 1.08
    """The framed object may leave the unit sphere by at most this much (then it is shrunk); 1.08
    keeps it inside the image from every orbit camera at radius 3.2 and 40 degrees."""
    procedural_tumble_probability: float = 0.2
    """Probability that a procedural object gets a random full 3D orientation (else it stands upright)."""

    # --- target cameras ---------------------------------------------------------------------------
    target_elevation_deg: tuple[float, float] = (-20.0, 50.0)
    orbit_probability: float = 0.5
    """Probability that a sample's targets include exact img2gs.cameras.target_orbit(n) poses."""
    orbit_sizes: tuple[int, ...] = (8, 12, 16)

    # --- shading -----------------------------------------------------------------------------------
    ambient: tuple[float, float] = (0.25, 0.6)
    light_elevation_deg: tuple[float, float] = (10.0, 80.0)
    supersample: int = 2

    # --- output -----------------------------------------------------------------------------------
    val_fraction: float = 0.05
    """Fraction of objects (by a hash of the object id) in the validation split."""
    samples_per_shard: int = 512
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "resolution >= 8": self.resolution >= 8,
            "views_per_sample >= 2": self.views_per_sample >= 2,
            "procedural_objects >= 0": self.procedural_objects >= 0 and self.organic_objects >= 0,
            "samples_per_* >= 1": self.samples_per_mesh >= 1 and self.samples_per_procedural_object >= 1,
            "0 < input_fill < 1": 0.0 < self.input_fill < 1.0,
            "max_object_radius >= 1": self.max_object_radius >= 1.0,
            "0 <= val_fraction < 1": 0.0 <= self.val_fraction < 1.0,
            "samples_per_shard >= 1": self.samples_per_shard >= 1,
            "supersample >= 1": self.supersample >= 1,
            "0 <= ambient <= 1": 0.0 <= self.ambient[0] <= self.ambient[1] <= 1.0,
            "orbit_sizes >= 1": all(n >= 1 for n in self.orbit_sizes),
        }
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            raise PresetError(f"invalid DataBuildConfig: {', '.join(failed)}")
