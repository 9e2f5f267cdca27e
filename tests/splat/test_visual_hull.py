"""The visual hull of posed views and the Gaussians initialised on it (splat/visual_hull.py)."""


import pytest
import torch

from img2gs.cameras import intrinsics_from_fov, orbit_to_c2w, viewmat_from_c2w
from img2gs.splat.visual_hull import VisualHull, carve_visual_hull, colors_from_views, from_visual_hull, hull_depth_map


def sphere_views(radius: float, n: int = 8, size: int = 48):
    """Analytic silhouettes of a ball of `radius` at the origin, front half red (x > 0), back blue."""
    elev = torch.tensor([20.0, -20.0] * (n // 2))
    azim = torch.arange(n) * (360.0 / n)
    c2w = orbit_to_c2w(elev, azim, torch.full((n,), 3.2))
    K = intrinsics_from_fov(40.0, size, size).expand(n, 3, 3)
    images = torch.zeros(n, size, size, 4)
    jj, ii = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    for v in range(n):
        eye = c2w[v, :3, 3]
        # ray directions in world space through each pixel (OpenCV camera: x right, y down, z forward)
        d_cam = torch.stack([(ii - K[v, 0, 2]) / K[v, 0, 0], (jj - K[v, 1, 2]) / K[v, 1, 1], torch.ones_like(ii)], -1)
        cv2w = torch.linalg.inv(viewmat_from_c2w(c2w[v]))[:3, :3]
        d = torch.nn.functional.normalize(d_cam @ cv2w.T, dim=-1)
        b = (d * eye).sum(-1)
        disc = b**2 - (eye @ eye - radius**2)
        hit = disc > 0
        t = -b - disc.clamp_min(0).sqrt()
        point = eye + t[..., None] * d
        color = torch.where((point[..., :1] > 0), torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 0, 1]))
        images[v, ..., :3] = color * hit[..., None]
        images[v, ..., 3] = hit.float()
    return images, c2w, K


def test_visual_hull_of_a_ball_is_close_to_the_ball():
    images, c2w, K = sphere_views(0.6)
    hull = carve_visual_hull(images[..., 3], c2w, K, resolution=40)
    centers = hull.voxel_centers(torch.nonzero(hull.occupied))
    r = centers.norm(dim=-1)
    assert r.max() < 0.6 + 2.5 * hull.voxel_size  # a visual hull contains the object but carves close
    inside_ball = hull.voxel_centers(torch.nonzero(torch.ones_like(hull.occupied))).norm(dim=-1) < 0.6 - hull.voxel_size
    assert hull.occupied.flatten()[inside_ball].all()  # nothing of the object is carved away
    surface = hull.voxel_centers(hull.surface_voxels()).norm(dim=-1)
    assert surface.min() > 0.6 - 2 * hull.voxel_size  # surface voxels are on the shell, not inside


def test_visual_hull_init_colours_come_from_the_visible_side(generator):
    images, c2w, K = sphere_views(0.6)
    g = from_visual_hull(images, c2w, K, n_points=2000, resolution=40, sh_degree=1, generator=generator)
    rgb = g.base_colors
    front, back = g.means[:, 0] > 0.15, g.means[:, 0] < -0.15
    assert (rgb[front, 0] > 0.8).float().mean() > 0.9 and (rgb[back, 2] > 0.8).float().mean() > 0.9
    assert (g.means.norm(dim=-1) - 0.6).abs().max() < 0.15


def test_colors_from_views_ignores_views_where_the_point_is_occluded():
    # a point behind an occupied block, seen by one camera in front (green image) and one behind (red)
    occupied = torch.zeros(20, 20, 20, dtype=torch.bool)
    occupied[12:16, 8:12, 8:12] = True  # a block at x in [0.2, 0.6]
    hull = VisualHull(occupied, extent=1.0)
    c2w = orbit_to_c2w(torch.tensor([0.0, 0.0]), torch.tensor([0.0, 180.0]), torch.tensor([3.0, 3.0]))
    K = intrinsics_from_fov(40.0, 16, 16).expand(2, 3, 3)
    images = torch.zeros(2, 16, 16, 4)
    images[0, ..., 1] = 1.0
    images[1, ..., 0] = 1.0
    images[..., 3] = 1.0
    pts = torch.tensor([[-0.5, 0.0, 0.0], [0.0, 0.0, 0.9]])  # behind the block from camera 0; free
    zbuf = hull_depth_map(hull, viewmat_from_c2w(c2w[0]), K[0], 16, 16)
    torch.testing.assert_close(zbuf[8, 8], torch.tensor(3.0 - 0.55))  # the block's front voxel centre
    assert torch.isinf(zbuf[0, 0]) and torch.isfinite(zbuf).sum() >= 4  # no holes inside the block
    colors = colors_from_views(pts, images, c2w, K, hull)
    torch.testing.assert_close(colors[0], torch.tensor([1.0, 0.0, 0.0]))  # only camera 1 sees it
    torch.testing.assert_close(colors[1], torch.tensor([0.5, 0.5, 0.0]))  # both do


def test_empty_visual_hull_is_a_clear_error():
    from img2gs.errors import DataFormatError

    images, c2w, K = sphere_views(0.6, n=4, size=24)
    images[..., 3] = 0.0  # fully transparent views
    with pytest.raises(DataFormatError, match="visual hull"):
        from_visual_hull(images, c2w, K, n_points=10, resolution=16)
