"""A self-contained preview page of one reconstruction: what an artist opens to decide whether to keep it.

One HTML file, no network: the input photo, the target views the splats were fitted to, and the mesh
orbiting in a WebGL canvas (three.js, vendored under vendor/ by scripts/vendor_three.sh, MIT; drag to
orbit, wheel to zoom). Everything is inlined: three.js and its OrbitControls as data: URLs behind an
import map, the images as PNG data: URLs, the mesh as base64 arrays (positions, triangle indices, and
texture coordinates with the baked atlas, or vertex colours).

The mesh is shown in glTF's frame (+Y up, the photo's side facing +Z: splat/asset_frame.py), as the
.glb is written, unlit (its colours are baked from the splats, shading included) and without colour
management, so the page shows the colours the files hold.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image
from torch import Tensor

from img2gs.atomic import atomic_write_text
from img2gs.image_io import composite_on
from img2gs.splat.asset_frame import to_asset_frame
from img2gs.splat.texture import texture_image

VENDOR = Path(__file__).resolve().parent / "vendor"
TEMPLATE = Path(__file__).resolve().parent / "template.html"


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def png_url(image: Image.Image | np.ndarray | Tensor) -> str:
    """A PNG data: URL of a PIL image or an RGB(A) array [H, W, C] in [0, 1] (float) or uint8."""
    if not isinstance(image, Image.Image):
        array = np.asarray(image.detach().cpu() if isinstance(image, Tensor) else image)
        if array.dtype != np.uint8:
            array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        image = Image.fromarray(array)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return data_url(buffer.getvalue(), "image/png")


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def mesh_payload(mesh: trimesh.Trimesh) -> dict:
    """The mesh (world frame) as the page's JSON: glTF frame, little-endian base64 arrays."""
    mesh = to_asset_frame(mesh)
    payload = {"positions": _b64(np.asarray(mesh.vertices, "<f4")), "indices": _b64(np.asarray(mesh.faces, "<u4")),
               "faces": len(mesh.faces), "vertices": len(mesh.vertices)}
    image = texture_image(mesh)
    if image is not None:
        payload |= {"uv": _b64(np.asarray(mesh.visual.uv, "<f4")), "texture": png_url(image.convert("RGB"))}
    else:
        colors = np.asarray(mesh.visual.vertex_colors, np.uint8)[:, :3]
        payload["colors"] = _b64(colors)
    return payload


def preview_page(title: str, photo: Tensor, views: Tensor, mesh: trimesh.Trimesh, facts: dict[str, str]) -> str:
    """The page's HTML. photo [S, S, 4] and views [V, R, R, 4] straight-alpha RGBA in [0, 1], shown on white."""
    imports = {"three": data_url((VENDOR / "three.module.min.js").read_bytes(), "text/javascript"),
               "three/addons/OrbitControls.js": data_url((VENDOR / "OrbitControls.js").read_bytes(), "text/javascript")}
    view_tags = "\n".join(f'<img src="{png_url(composite_on(v))}" alt="view {i + 1}">' for i, v in enumerate(views))
    fact_rows = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts.items())
    version = (VENDOR / "THREE_VERSION").read_text().strip()
    fields = {"TITLE": html.escape(title), "IMPORT_MAP": json.dumps({"imports": imports}),
              "PHOTO": png_url(composite_on(photo)), "VIEWS": view_tags, "FACTS": fact_rows,
              "MESH": json.dumps(mesh_payload(mesh)).replace("</", "<\\/"), "THREE_VERSION": html.escape(version)}
    page = TEMPLATE.read_text()
    for key, value in fields.items():
        page = page.replace("{{" + key + "}}", value)
    return page


def write_preview_page(path: str | os.PathLike, title: str, photo: Tensor, views: Tensor, mesh: trimesh.Trimesh,
                       facts: dict[str, str]) -> Path:
    """Write `preview_page(...)` to `path` atomically."""
    atomic_write_text(path, preview_page(title, photo, views, mesh, facts))
    return Path(path)
