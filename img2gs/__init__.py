"""img2gs: one photo of an object -> 3D Gaussian splats (and a mesh).

Subpackages:
    img2gs.viewgen   -- data, networks, diffusion / consistency maths, trainers, sampler
    img2gs.splat     -- Gaussians, rasterizer backends, densification, optimizer, exporters
    img2gs.pipeline  -- photo -> views -> splats -> files
Shared pieces live at the top level: cameras (the camera contract), image I/O, posed-view folders.
"""

__version__ = "0.1.0"
