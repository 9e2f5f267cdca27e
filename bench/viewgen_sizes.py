"""Cost of candidate view-generator sizes: parameters, forward FLOPs, and seconds per training step.

For each candidate model config, the real teacher step (TeacherTask: batch assembly, EDM loss,
backward, AdamW, EMA) and distillation step (DistillTask: teacher Heun step, target, student
forward + backward, optional CFG) are timed on synthetic data with the preset's batch shape
(objects x views). Wall time and process CPU time are both printed: on a shared machine the CPU time
is the steadier number (it counts every thread). FLOPs come from torch.utils.flop_counter.

    .venv/bin/python bench/viewgen_sizes.py                    # all candidates, 2 threads
    .venv/bin/python bench/viewgen_sizes.py --only cpu --steps 10
    .venv/bin/python bench/viewgen_sizes.py --proxy --only px     # proxy-conditioned, 32 vs 48 vs 64 px
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench/viewgen.py

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from img2gs.proxy.render import ProxyRender  # noqa: E402
from img2gs.ray_maps import RAY_CHANNELS  # noqa: E402
from img2gs.training.ema import ema_update  # noqa: E402
from img2gs.training.loop import ema_decay, step_generator  # noqa: E402
from img2gs.viewgen.batches import BatchSampler  # noqa: E402
from img2gs.viewgen.config import ModelConfig, load_viewgen_preset  # noqa: E402
from img2gs.viewgen.network import PROXY_CHANNELS, ViewGenNet, count_parameters  # noqa: E402
from img2gs.viewgen.train_distill import DistillTask  # noqa: E402
from img2gs.viewgen.train_teacher import TeacherTask  # noqa: E402


def candidates() -> dict[str, ModelConfig]:
    cpu = load_viewgen_preset("cpu").model
    r32 = dataclasses.replace
    return {
        "cpu preset: 32px 32-64-128-128 attn@8,4": cpu,
        "32px 32-64-128 attn@8": r32(cpu, block_out_channels=(32, 64, 128), attention=(False, False, True),
                                     cross_view_levels=1),
        "32px 32-64-128 attn@16,8": r32(cpu, block_out_channels=(32, 64, 128), attention=(False, True, True),
                                        cross_view_levels=1),
        "32px 64-128-128 attn@16,8": r32(cpu, block_out_channels=(64, 128, 128), attention=(False, True, True),
                                         cross_view_levels=1),
        "32px 32-64-128-256 attn@8,4": r32(cpu, block_out_channels=(32, 64, 128, 256)),
        "48px 32-64-128-128 attn@12,6": r32(cpu, resolution=48),
        "64px 32-64-128-128 attn@16,8": r32(cpu, resolution=64),
    }


def synthetic_dataset(samples: int, views: int, size: int, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    poses = torch.tensor([[20.0, 0.0, 3.2]] + [[30.0, 360.0 * k / views, 3.2] for k in range(1, views)])
    return [{"images": torch.rand(views, size, size, 4, generator=g), "poses": poses} for _ in range(samples)]


class SyntheticProxies:
    """Random proxy renders shaped like a ProxyViewStore's (for timing only)."""

    def __init__(self, samples: int, views: int, size: int):
        self.indices, self.resolution, self.views = list(range(samples)), size, views

    def __getitem__(self, index: int) -> ProxyRender:
        g = torch.Generator().manual_seed(index)
        shape = (self.views, self.resolution, self.resolution)
        return ProxyRender(torch.rand(*shape, 4, generator=g), 3.2 + torch.rand(*shape, generator=g) - 0.5,
                           torch.rand(*shape, generator=g))


def forward_gflop_per_view(model: ModelConfig) -> float:
    net = ViewGenNet(model).eval()
    r, v = model.resolution, 4
    extra = {}
    if model.proxy_conditioning:
        extra = {"proxy": torch.zeros(1, v, PROXY_CHANNELS, r, r), "rays": torch.zeros(1, v, RAY_CHANNELS, r, r)}
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, v, 4, r, r), torch.zeros(1), torch.zeros(1, 3, r, r), torch.zeros(1, v, 4), **extra)
    return counter.get_total_flops() / v / 1e9


def time_steps(task, loop, steps: int) -> tuple[float, float]:
    """Median (wall, cpu) seconds of one full training step after a warm-up step."""
    params = [p for p in task.online.parameters() if p.requires_grad]
    results = []
    for step in range(steps + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        loss, _ = task.loss(step, step_generator(0, step))
        task.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, loop.grad_clip)
        task.optimizer.step()
        ema_update(task.ema, task.online, ema_decay(loop, step))
        task.after_step(step)
        if step > 0:
            results.append((time.perf_counter() - wall, time.process_time() - cpu))
    return statistics.median(w for w, _ in results), statistics.median(c for _, c in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="substring of the candidate names to run (e.g. 'cpu')")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per candidate (after 1 warm-up)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-distill", action="store_true")
    parser.add_argument("--proxy", action="store_true", help="proxy-conditioned candidates (synthetic proxies)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    preset = load_viewgen_preset("cpu")
    teacher_cfg, distill_cfg = preset.teacher, preset.distill
    loop = teacher_cfg.loop
    print(f"batch: {loop.batch_objects} objects x {loop.views_per_object} views; {args.threads} threads; "
          f"medians of {args.steps} steps")
    header = f"{'candidate':34s} {'params':>8s} {'GFLOP/view':>10s} {'teacher s/step':>16s} {'distill s/step':>16s}"
    print(header + "\n" + f"{'':34s} {'':>8s} {'(fwd)':>10s} {'wall / cpu':>16s} {'wall / cpu':>16s}")
    for name, model in candidates().items():
        if args.only and args.only not in name:
            continue
        model = dataclasses.replace(model, proxy_conditioning=args.proxy)
        data = synthetic_dataset(8, loop.views_per_object + 1, model.resolution)
        proxies = SyntheticProxies(8, loop.views_per_object + 1, model.resolution) if args.proxy else None
        sampler = BatchSampler(data, loop.batch_objects, loop.views_per_object, model.resolution, seed=0,
                               proxies=proxies)
        cfg = dataclasses.replace(teacher_cfg, model=model)
        teacher = TeacherTask(cfg, sampler, torch.device("cpu"))
        t_wall, t_cpu = time_steps(teacher, loop, args.steps)
        d_text = "-"
        if not args.no_distill:
            distill = DistillTask(distill_cfg, teacher.ema, model, sampler, torch.device("cpu"))
            d_wall, d_cpu = time_steps(distill, distill_cfg.loop, args.steps)
            d_text = f"{d_wall:7.2f} / {d_cpu:5.2f}"
        print(f"{name:34s} {count_parameters(teacher.online) / 1e6:7.2f}M {forward_gflop_per_view(model):10.3f} "
              f"{t_wall:7.2f} / {t_cpu:5.2f} {d_text:>16s}", flush=True)


if __name__ == "__main__":
    main()
