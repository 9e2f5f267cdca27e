"""The preview page: self-contained (nothing fetched), the mesh inside it as written, and, in a headless
browser, a WebGL canvas that shows the mesh."""

import base64
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from img2gs.preview.page import preview_page, write_preview_page
from img2gs.splat.asset_frame import to_asset_frame
from img2gs.splat.texture import TextureConfig, textured_mesh

RED = torch.tensor([0.9, 0.1, 0.1])


def red_box(texture: bool) -> trimesh.Trimesh:
    box = trimesh.creation.box([0.8, 0.6, 1.2])
    if texture:
        return textured_mesh(box, lambda p: (RED.expand(len(p), 3).clone(), torch.ones(len(p), dtype=torch.bool)),
                             lambda p: RED.expand(len(p), 3), TextureConfig(size=64))
    box.visual.vertex_colors = np.array([230, 25, 25, 255], np.uint8)
    return box


def mesh_json(page: str) -> dict:
    return json.loads(re.search(r'<script id="mesh-data" type="application/json">(.*?)</script>', page, re.S)
                      .group(1).replace("<\\/", "</"))


@pytest.mark.parametrize("texture", [True, False])
def test_the_page_is_self_contained_and_holds_the_mesh_in_the_gltf_frame(texture):
    mesh = red_box(texture)
    page = preview_page("a <b>photo</b>.jpg", torch.rand(32, 32, 4), torch.rand(3, 16, 16, 4), mesh, {"Gaussians": "7"})
    assert "a &lt;b&gt;photo&lt;/b&gt;.jpg" in page and "{{" not in page
    assert not re.search(r'(src|href)="(?!data:)', page)  # every image and script is inlined
    imports = json.loads(re.search(r'<script type="importmap">(.*?)</script>', page, re.S).group(1))["imports"]
    assert set(imports) == {"three", "three/addons/OrbitControls.js"}
    assert all(url.startswith("data:text/javascript;base64,") for url in imports.values())
    assert page.count('src="data:image/png;base64,') == 4  # the photo and three views
    data = mesh_json(page)
    positions = np.frombuffer(base64.b64decode(data["positions"]), "<f4").reshape(-1, 3)
    assert np.allclose(positions, to_asset_frame(mesh).vertices, atol=1e-6)  # +Y up, as the .glb
    assert np.ptp(positions[:, 1]) == pytest.approx(1.2, abs=1e-5)
    assert ("texture" in data) == texture and ("colors" in data) == (not texture)


def chromium() -> str | None:
    return next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)


@pytest.mark.skipif(chromium() is None, reason="no Chromium on this machine (.ci/run installs Debian's package); "
                    "the page's WebGL canvas is not checked")
@pytest.mark.parametrize("texture", [True, False])
def test_headless_chromium_shows_the_mesh_in_the_webgl_canvas(tmp_path, texture):
    page = write_preview_page(tmp_path / "page.html", "box", torch.ones(32, 32, 4), torch.ones(2, 16, 16, 4),
                              red_box(texture), {})
    shot = tmp_path / "shot.png"
    subprocess.run([chromium(), "--headless=new", "--no-sandbox", "--use-angle=swiftshader",
                    "--enable-unsafe-swiftshader", "--window-size=1000,700", "--virtual-time-budget=8000",
                    f"--screenshot={shot}", page.as_uri()], check=True, capture_output=True, timeout=120)
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    canvas = image[90:630, 340:970]  # the 640 x 560 canvas right of the 300 px column (template.html)
    red = (canvas[..., 0] > 150) & (canvas[..., 1] < 90) & (canvas[..., 2] < 90)
    assert red.mean() > 0.05, "the canvas does not show the red box"
    left = image[90:630, :320]
    assert not ((left[..., 0] > 150) & (left[..., 1] < 90)).any()  # the photo and views are white here
