"""Issue 11: every reader ends a mutated input in its typed error or a valid result, within a memory bound.

Valid inputs (a 3DGS .ply, binary and ASCII; a posed-view folder; a PNG; a dataset shard with its
meta.json; a view-generator and a shape-stage checkpoint, weights and config.json) are mutated with a
fixed seed: truncation, byte flips, inserted / deleted / repeated bytes, and, parsed, their JSON (or
the .ply header, the PNG's IHDR, the safetensors header) with type swaps, huge numbers, NaN, removed
keys and paths that leave the folder. One subprocess imports everything first, then limits its address
space to MEMORY_BOUND above what it uses (RLIMIT_AS), then reads every case. A case passes when the
reader returns or raises its typed error; anything else (MemoryError included) fails the test.

Default suite: CASES per reader; `-m slow`: SLOW_CASES per reader.
"""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

CASES = 200
SLOW_CASES = 2000
MEMORY_BOUND = 2**30  # bytes of address space a reader may add (1 GiB)
SEED = 11

# ------------------------------------------------------------------------------------------ mutations


HUGE = [2**31, 2**63, 10**30, 1e308, -1, 0, -(2**63)]
SWAPS = ["abc", "", None, True, [], {}, [[1, 2], [3]], float("nan"), float("inf"), 1e-300, 5,
         "../x.png", "../../x.png", "/etc/passwd", 8192, 60000, *HUGE]


def mutate_bytes(rng, data: bytes) -> bytes:
    """One random byte-level damage: truncate, flip, insert, delete, repeat or overwrite."""
    data = bytearray(data)
    n = len(data)
    kind = rng.randrange(7)
    at = rng.randrange(max(n, 1))
    if kind == 0:
        return bytes(data[: rng.choice([0, 1, 8, at, at, n - 1])])
    if kind == 1:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(n)] = rng.randrange(256)
    elif kind == 2:
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif kind == 3:
        del data[at : at + rng.randint(1, 64)]
    elif kind == 4:
        data[at:at] = data[at : at + rng.randint(1, 256)] * rng.randint(1, 4)
    elif kind == 5:
        data[at : at + 8] = rng.choice([b"\xff" * 8, b"\x00" * 8, struct.pack("<f", math.nan) * 2])
    else:
        i = rng.randrange(min(n, 64) or 1)  # the header region, where the sizes are
        data[i] ^= 1 << rng.randrange(8)
    return bytes(data)


def _nodes(value, path=()):
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _nodes(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _nodes(v, (*path, i))


def _replace(value, path, new):
    if not path:
        return new
    value[path[0]] = _replace(value[path[0]], path[1:], new)
    return value


def mutate_json(rng, value):
    """One structural mutation of parsed JSON: a type swap, a huge or scaled number, a removed or
    repeated entry."""
    value = json.loads(json.dumps(value))
    path, node = rng.choice(list(_nodes(value)))
    kind = rng.randrange(5)
    if kind == 0 and path:  # remove the entry
        parent = _get(value, path[:-1])
        del parent[path[-1]]
        return value
    if kind == 1 and isinstance(node, list) and node:  # repeat entries
        return _replace(value, path, node * rng.choice([2, 3, 50]))
    if kind == 2 and isinstance(node, (int, float)) and not isinstance(node, bool):  # scale a size
        return _replace(value, path, node * rng.choice([0, -1, 256, 8192, 10**9]))
    return _replace(value, path, rng.choice(SWAPS))


def _get(value, path):
    for key in path:
        value = value[key]
    return value


def mutate_json_bytes(rng, data: bytes) -> bytes:
    if rng.random() < 0.7:
        return json.dumps(mutate_json(rng, json.loads(data))).encode()
    return mutate_bytes(rng, data)


def mutate_ply(rng, data: bytes) -> bytes:
    """Header-aware: a changed vertex count, format or property line; else byte damage."""
    end = data.index(b"end_header\n") + len(b"end_header\n")
    lines = data[:end].decode().split("\n")
    kind = rng.randrange(4)
    if kind == 0:
        count = rng.choice([0, 1, 10**8, 10**12, 2**63, -1, "abc", "1_000", 15, 17])
        lines = [f"element vertex {count}" if ln.startswith("element vertex") else ln for ln in lines]
    elif kind == 1:
        fmt = rng.choice(["ascii", "binary_big_endian", "binary_little_endian", "utf8"])
        lines = [f"format {fmt} 1.0" if ln.startswith("format") else ln for ln in lines]
    elif kind == 2:
        i = rng.choice([i for i, ln in enumerate(lines) if ln.startswith("property")])
        lines[i] = rng.choice(["", lines[i].replace("float", "double"), lines[i].replace("float", "uchar"),
                               lines[i].replace("float", "list uchar float"), lines[i] + "\n" + lines[i]])
    else:
        return mutate_bytes(rng, data)
    return "\n".join(lines).encode() + data[end:]


def mutate_png(rng, data: bytes) -> bytes:
    """The IHDR size set to a random (often huge) value with a valid CRC; else byte damage."""
    if rng.random() < 0.4:
        data = bytearray(data)
        w, h = rng.choice([(30000, 30000), (8000, 8000), (16384, 3906), (65535, 1), (0, 0), (2**31 - 1, 2)])
        data[16:24] = struct.pack(">II", w, h)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
        return bytes(data)
    return mutate_bytes(rng, data)


def mutate_safetensors(rng, data: bytes) -> bytes:
    """The JSON header mutated (shapes, dtypes, offsets, metadata) and written back; else byte damage."""
    if rng.random() < 0.5:
        n = struct.unpack("<Q", data[:8])[0]
        header = mutate_json_bytes(rng, data[8 : 8 + n])
        return struct.pack("<Q", len(header)) + header + data[8 + n :]
    return mutate_bytes(rng, data)


# ------------------------------------------------------------------------------------------ the readers


def _valid_ply(folder: Path, text: bool) -> Path:
    import torch
    from plyfile import PlyData

    from img2gs.splat.export_ply import save_ply
    from img2gs.splat.gaussians import Gaussians

    g = torch.Generator().manual_seed(0)
    n = 16
    save_ply(folder / "scene.ply", Gaussians({
        "means": torch.randn(n, 3, generator=g), "scales": torch.randn(n, 3, generator=g) - 3,
        "quats": torch.randn(n, 4, generator=g), "opacities": torch.randn(n, generator=g),
        "sh0": torch.randn(n, 1, 3, generator=g), "shN": torch.randn(n, 3, 3, generator=g)}))
    if text:
        ply = PlyData.read(str(folder / "scene.ply"))
        ply.text = True
        ply.write(str(folder / "scene_ascii.ply"))
        return folder / "scene_ascii.ply"
    return folder / "scene.ply"


def _valid_views(folder: Path) -> Path:
    from img2gs.mesh_render.synthetic_scene import write_synthetic_scene

    views = write_synthetic_scene(folder / "views", n_train=2, n_test=1, size=16)
    (folder / "x.png").write_bytes((views / json.loads((views / "transforms.json").read_text())
                                    ["frames"][0]["file_path"]).read_bytes())  # a target for "../x.png"
    return views


def _valid_png(folder: Path) -> Path:
    import numpy as np
    from PIL import Image

    rgba = np.random.default_rng(0).integers(0, 255, (24, 32, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(folder / "photo.png")
    return folder / "photo.png"


def _valid_dataset(folder: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).parent / "viewgen"))
    from viewgen_helpers import write_tiny_dataset

    (folder / "data").mkdir()
    return write_tiny_dataset(folder / "data", train=2, val=1)


def _valid_checkpoint(folder: Path) -> Path:
    """A one-level U-Net without attention: every field is in its config.json, and a load takes ~10 ms."""
    import dataclasses

    from img2gs.viewgen.checkpoint import CheckpointInfo, write_checkpoint
    from img2gs.viewgen.config import load_viewgen_preset
    from img2gs.viewgen.network import ViewGenNet

    config = dataclasses.replace(load_viewgen_preset("tiny").model, block_out_channels=(8,), attention=(False,),
                                 cross_view_attention=False, norm_num_groups=4)
    write_checkpoint(folder / "ckpt", ViewGenNet(config), CheckpointInfo("student", config))
    return folder / "ckpt"


def _valid_shape_checkpoint(folder: Path) -> Path:
    from img2gs.shape.checkpoint import ShapeCheckpointInfo
    from img2gs.shape.config import load_shape_preset
    from img2gs.shape.network import ShapeNet
    from img2gs.viewgen.checkpoint import save_weights

    config = load_shape_preset("tiny").model
    (folder / "shape").mkdir()
    save_weights(folder / "shape" / "model.safetensors", ShapeNet(config).state_dict())
    (folder / "shape" / "config.json").write_text(json.dumps(ShapeCheckpointInfo(config).to_json()))
    return folder / "shape"


def _read_views(folder: Path) -> None:
    import torch

    from img2gs.posed_views import read_posed_views
    from img2gs.posed_views import read_cameras

    views = read_posed_views(folder)
    assert torch.isfinite(views.c2w).all() and (views.K[:, 0, 0] > 0).all()
    cameras = read_cameras(folder / "transforms.json")
    assert torch.isfinite(cameras.K).all()


def _read_dataset(folder: Path) -> None:
    from img2gs.data import ViewDataset, read_shard

    dataset = ViewDataset(folder, "train")
    for i in range(len(dataset)):
        dataset[i]
    for path in dataset.paths:
        read_shard(path)


def _read_ply(path: Path) -> None:
    import torch

    from img2gs.splat.export_ply import load_ply

    gaussians = load_ply(path)
    assert len(gaussians) > 0 and all(torch.isfinite(v).all() for v in gaussians.params.values())


def _readers() -> dict:
    """name -> (make the valid input, the file to mutate in it, mutate, read, typed errors)."""
    from img2gs.errors import CheckpointError, DataFormatError, ImageInputError, MissingDependencyError
    from img2gs.image_io import load_image
    from img2gs.shape.checkpoint import load_shape_checkpoint
    from img2gs.viewgen.checkpoint import load_checkpoint

    checkpoint_errors = (CheckpointError, MissingDependencyError)  # an encoder kind whose package is missing
    return {
        "ply (binary)": (lambda d: _valid_ply(d, text=False), ".", mutate_ply, _read_ply, DataFormatError),
        "ply (ascii)": (lambda d: _valid_ply(d, text=True), ".", mutate_ply, _read_ply, DataFormatError),
        "transforms.json": (_valid_views, "transforms.json", mutate_json_bytes, _read_views, DataFormatError),
        "png": (_valid_png, ".", mutate_png, load_image, ImageInputError),
        "shard": (_valid_dataset, "train-00000.safetensors", mutate_safetensors, _read_dataset, DataFormatError),
        "dataset meta.json": (_valid_dataset, "meta.json", mutate_json_bytes, _read_dataset, DataFormatError),
        "viewgen weights": (_valid_checkpoint, "model.safetensors", mutate_safetensors, load_checkpoint,
                            checkpoint_errors),
        "viewgen config.json": (_valid_checkpoint, "config.json", mutate_json_bytes, load_checkpoint,
                                checkpoint_errors),
        "shape weights": (_valid_shape_checkpoint, "model.safetensors", mutate_safetensors,
                          load_shape_checkpoint, checkpoint_errors),
        "shape config.json": (_valid_shape_checkpoint, "config.json", mutate_json_bytes, load_shape_checkpoint,
                              checkpoint_errors),
    }


# ------------------------------------------------------------------------------------------ the worker


def _address_space() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize"))


def worker(cases: int, seed: int, workdir: Path) -> dict:
    """Run `cases` mutations per reader under the memory bound; a summary per reader."""
    import random
    import resource

    import torch

    torch.set_num_threads(1)
    readers = _readers()
    valid = {}
    for name, (make, target, *_) in readers.items():
        (workdir / "valid" / name).mkdir(parents=True)
        valid[name] = make(workdir / "valid" / name)
        readers[name][3](valid[name])  # the unmutated input reads (and every import is done before the limit)
    base = _address_space()
    resource.setrlimit(resource.RLIMIT_AS, (base + MEMORY_BOUND, resource.getrlimit(resource.RLIMIT_AS)[1]))
    summary = {}
    for name, (_, target, mutate, read, typed) in readers.items():
        rng = random.Random(f"{seed}-{name}")
        counts = {"typed error": 0, "valid": 0, "failures": []}
        start = time.perf_counter()
        for case in range(cases):
            source = valid[name] if target == "." else valid[name] / target
            original = source.read_bytes()
            source.write_bytes(mutate(rng, original))
            try:
                read(valid[name])
                counts["valid"] += 1
            except typed:
                counts["typed error"] += 1
            except BaseException as e:  # noqa: BLE001  (MemoryError, pyo3 panics, ...: all failures)
                counts["failures"].append(f"case {case}: {type(e).__name__}: {str(e)[:200]}")
            finally:
                source.write_bytes(original)
        counts["seconds"] = round(time.perf_counter() - start, 2)
        summary[name] = counts
    return summary


def _run_worker(tmp_path: Path, cases: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
    out = subprocess.run([sys.executable, __file__, str(cases), str(SEED), str(tmp_path)], capture_output=True,
                         text=True, env=env, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _check(summary: dict, cases: int) -> None:
    for name, counts in summary.items():
        print(f"{name:22s} {cases} cases: {counts['typed error']} typed errors, {counts['valid']} valid, "
              f"{len(counts['failures'])} failures, {counts['seconds']} s")
    failures = {name: c["failures"][:5] for name, c in summary.items() if c["failures"]}
    assert not failures, json.dumps(failures, indent=1)
    assert all(c["typed error"] + c["valid"] == cases for c in summary.values())
    assert all(c["typed error"] > 0 for c in summary.values())  # the mutations do reach the checks


def test_fuzz_readers(tmp_path):
    _check(_run_worker(tmp_path, CASES), CASES)


@pytest.mark.slow
def test_fuzz_readers_long(tmp_path):
    _check(_run_worker(tmp_path, SLOW_CASES), SLOW_CASES)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    result = worker(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
    print(json.dumps(result))
