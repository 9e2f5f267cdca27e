"""The rules of the rasterizer shared by every backend (gsplat's values): the numba kernels
(`_rasterize_kernels.py`), their pure-torch twin (`_rasterize_torch.py`) and the tile binning
(`tiles.py`) read them from here, so that the twin cannot drift from the kernels it checks."""

TILE_SIZE = 16  # pixels per side of a screen tile
ALPHA_MAX = 0.999  # a Gaussian's alpha at a pixel is clamped to this
ALPHA_MIN = 1.0 / 255.0  # contributions below this alpha are skipped
T_MIN = 1e-4  # a pixel stops once its transmittance would fall to this
