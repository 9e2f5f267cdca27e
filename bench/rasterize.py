"""Rasterizer speed: forward + backward of the `cpu` (numba) backend against the `torch` twin.

Scene: 5,000 random Gaussians in the unit sphere, SH degree 3, seen by the input camera of the
camera contract (radius 3.2, field of view 40 degrees) at 128x128. Both backends are timed in the same
run, interleaved round by round so that they see the same machine load; warm-up (numba compilation /
cache load, first-call allocations) is excluded; medians are reported. Last line:
    RESULT cpu_fwd_bwd_ms=... torch_fwd_bwd_ms=... speedup=...
"""

from __future__ import annotations

import os

# On a CPU shared by several processes, OpenMP worker threads that spin-wait after each parallel
# region (torch's and numba's runtimes both do by default) steal the cores from each other; passive
# waiting must be chosen before torch loads. Set OMP_WAIT_POLICY=ACTIVE to measure the default.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from img2gs.cameras import FOV_DEG, input_pose, intrinsics_from_fov, viewmat_from_c2w  # noqa: E402
from img2gs.splat.rasterize import rasterize  # noqa: E402


def make_scene(n: int, size: int, sh_degree: int, seed: int) -> tuple[dict, dict]:
    gen = torch.Generator().manual_seed(seed)
    direction = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen), dim=-1)
    radius = torch.rand(n, 1, generator=gen) ** (1 / 3)  # uniform in the ball
    log_scales = torch.empty(n, 3).uniform_(math.log(0.01), math.log(0.05), generator=gen)
    params = {
        "means": direction * radius,
        "quats": torch.randn(n, 4, generator=gen),
        "scales": log_scales.exp(),
        "opacities": torch.sigmoid(torch.randn(n, generator=gen)),
        "colors": torch.randn(n, (sh_degree + 1) ** 2, 3, generator=gen) * 0.3,
    }
    cams = {
        "viewmats": viewmat_from_c2w(input_pose().c2w())[None],
        "Ks": intrinsics_from_fov(FOV_DEG, size, size)[None],
        "width": size,
        "height": size,
    }
    return params, cams


def fwd_bwd(backend: str, params: dict, cams: dict, sh_degree: int, weights: torch.Tensor):
    """(wall ms, process CPU ms summed over threads) of one forward + backward, and the image."""
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    start, start_cpu = time.perf_counter(), time.process_time()
    colors, alphas, _ = rasterize(**leaves, **cams, sh_degree=sh_degree, backend=backend)
    ((colors * weights).sum() + alphas.sum()).backward()
    return 1000 * (time.perf_counter() - start), 1000 * (time.process_time() - start_cpu), colors.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--sh-degree", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (numba: NUMBA_NUM_THREADS)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"reproduce: OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']} .venv/bin/python " + " ".join(sys.argv))
    params, cams = make_scene(args.n, args.size, args.sh_degree, seed=0)
    weights = torch.rand(1, args.size, args.size, 3, generator=torch.Generator().manual_seed(1))

    times: dict[str, list[float]] = {"cpu": [], "torch": []}
    cpu_times: dict[str, list[float]] = {"cpu": [], "torch": []}
    images = {}
    for backend in times:  # warm-up, not timed
        *_, images[backend] = fwd_bwd(backend, params, cams, args.sh_degree, weights)
    for r in range(args.rounds):
        for backend in times:
            ms, cpu_ms, _ = fwd_bwd(backend, params, cams, args.sh_degree, weights)
            times[backend].append(ms)
            cpu_times[backend].append(cpu_ms)
        print(f"round {r}: cpu {times['cpu'][-1]:.1f} ms (CPU time {cpu_times['cpu'][-1]:.1f} ms), "
              f"torch {times['torch'][-1]:.1f} ms (CPU time {cpu_times['torch'][-1]:.1f} ms)", flush=True)
    diff = (images["cpu"] - images["torch"]).abs().max().item()
    print(f"scene: {args.n} Gaussians, {args.size}x{args.size}, SH degree {args.sh_degree}; "
          f"torch threads {torch.get_num_threads()}; max |cpu - torch| image difference {diff:.2e}")
    print(f"median CPU time summed over threads: cpu {statistics.median(cpu_times['cpu']):.1f} ms, "
          f"torch {statistics.median(cpu_times['torch']):.1f} ms; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    cpu_ms, torch_ms = statistics.median(times["cpu"]), statistics.median(times["torch"])
    print(f"RESULT cpu_fwd_bwd_ms={cpu_ms:.1f} torch_fwd_bwd_ms={torch_ms:.1f} speedup={torch_ms / cpu_ms:.1f}")


if __name__ == "__main__":
    main()
