"""Training steps in fp32 against bf16 autocast (LoopConfig.precision), side by side in one run.

For the shape stage (ShapeTask: batch assembly, augmentation, forward, depth + silhouette losses,
backward, AdamW), the teacher (TeacherTask) and the distillation (DistillTask), each at its CPU
preset's model and batch shape on synthetic data, the median seconds of a full training step are timed
in fp32 and in bf16, alternating, and the ratio printed. bf16 pays where the CPU has AVX-512 BF16 (or
AMX); elsewhere it may be slower.

    .venv/bin/python bench/train_precision.py               # 2 threads, 4 timed steps per row
    .venv/bin/python bench/train_precision.py --steps 8 --only shape
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench/viewgen.py

import argparse  # noqa: E402
import dataclasses  # noqa: E402

import torch  # noqa: E402

from img2gs.device import PRECISIONS  # noqa: E402
from img2gs.shape.config import load_shape_preset  # noqa: E402
from img2gs.shape.train import ShapeTask  # noqa: E402
from img2gs.viewgen.batches import BatchSampler  # noqa: E402
from img2gs.viewgen.config import load_viewgen_preset  # noqa: E402
from img2gs.viewgen.train_distill import DistillTask  # noqa: E402
from img2gs.viewgen.train_teacher import TeacherTask  # noqa: E402
from viewgen_sizes import SyntheticProxies, synthetic_dataset, time_steps  # noqa: E402


class SyntheticShapeData(list):
    """Samples shaped like a format-2 build's (10 views with the input view's depth layers)."""

    has_depth = True

    def __init__(self, samples: int, size: int, views: int = 10):
        g = torch.Generator().manual_seed(0)
        poses = torch.tensor([[20.0, 0.0, 3.2]] + [[20.0, 360.0 * k / views, 3.2] for k in range(1, views)])
        for _ in range(samples):
            images = torch.rand(views, size, size, 4, generator=g)
            images[..., 3] = (images[..., 3] > 0.4).float()
            front = 2.8 + 0.2 * torch.rand(size, size, generator=g)
            self.append({"images": images, "poses": poses, "depth": torch.stack([front, front + 0.4])})


def with_precision(config, precision: str):
    return dataclasses.replace(config, loop=dataclasses.replace(config.loop, precision=precision))


def shape_task(precision: str):
    config = with_precision(load_shape_preset("cpu_long_bf16"), precision)
    return ShapeTask(config, SyntheticShapeData(64, config.model.resolution), torch.device("cpu")), config.loop


def viewgen_tasks(precision: str):
    preset = load_viewgen_preset("cpu")
    teacher_cfg, distill_cfg = with_precision(preset.teacher, precision), with_precision(preset.distill, precision)
    model, loop = teacher_cfg.model, teacher_cfg.loop
    data = synthetic_dataset(8, loop.views_per_object + 1, model.resolution)
    proxies = SyntheticProxies(8, loop.views_per_object + 1, model.resolution) if model.proxy_conditioning else None
    sampler = BatchSampler(data, loop.batch_objects, loop.views_per_object, model.resolution, seed=0, proxies=proxies)
    teacher = TeacherTask(teacher_cfg, sampler, torch.device("cpu"))
    distill = DistillTask(distill_cfg, teacher.ema, model, sampler, torch.device("cpu"))
    return (teacher, loop), (distill, distill_cfg.loop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per row (after 1 warm-up)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=["shape", "teacher", "distill"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} threads; medians of {args.steps} steps; wall / cpu seconds per training step")
    print(f"{'trainer':10s} " + " ".join(f"{p:>15s}" for p in PRECISIONS) + f" {'fp32 / bf16':>12s}")
    for name in ("shape", "teacher", "distill"):
        if args.only and args.only != name:
            continue
        row = {}
        for precision in PRECISIONS:
            if name == "shape":
                task, loop = shape_task(precision)
            else:
                task, loop = viewgen_tasks(precision)[0 if name == "teacher" else 1]
            row[precision] = time_steps(task, loop, args.steps)
        cells = " ".join(f"{row[p][0]:7.3f} / {row[p][1]:5.2f}" for p in PRECISIONS)
        print(f"{name:10s} {cells} {row['fp32'][0] / row['bf16'][0]:11.2f}x", flush=True)


if __name__ == "__main__":
    main()
