"""img2gs: one photo of an object -> 3D Gaussian splats (and a mesh).

Subpackages:
    img2gs.viewgen   -- data, networks, diffusion / consistency maths, trainers, sampler
    img2gs.splat     -- Gaussians, rasterizer backends, densification, optimizer, exporters
    img2gs.pipeline  -- photo -> views -> splats -> files
Shared pieces live at the top level: cameras (the camera contract), image I/O, posed-view folders.
"""

import os as _os

# torch's and numba's OpenMP pools spin-wait by default and steal each other's cores; passive waiting
# made the cpu rasterizer ~4x faster on a 2-core machine (bench/rasterize.py). Must precede `import torch`.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
