"""View-generation speed: the one-step consistency student against the teacher's 50-level Heun sampler.

Same network (the `cpu` preset's, or the checkpoints given), same photo, 16 target views generated
jointly as one object (`ViewGenerator.generate`). The teacher's Heun sampler over 50 noise levels
makes 99 network evaluations (each over 2x the batch with classifier-free guidance, --guidance);
the student makes 1. Both are timed in the same run, interleaved round by round so that they see the
same machine load; medians of wall time and of process CPU time are reported. Last line:
    RESULT teacher_s=... student_s=... speedup=...

    .venv/bin/python bench/viewgen.py                      # random weights of the cpu preset
    .venv/bin/python bench/viewgen.py --teacher runs/teacher --student runs/student --guidance 2
"""

from __future__ import annotations

import os

# On a CPU shared by several processes, OpenMP threads that spin-wait steal the cores from each other;
# passive waiting must be chosen before torch loads (OMP_WAIT_POLICY=ACTIVE measures the default).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from img2gs.cameras import input_pose, target_orbit  # noqa: E402
from img2gs.proxy.render import ProxyRender  # noqa: E402
from img2gs.viewgen.checkpoint import CheckpointInfo, write_checkpoint  # noqa: E402
from img2gs.viewgen.config import load_viewgen_preset  # noqa: E402
from img2gs.viewgen.generator import ViewGenerator  # noqa: E402
from img2gs.viewgen.network import ViewGenNet, count_parameters  # noqa: E402


def random_checkpoints(preset: str, folder: Path) -> tuple[Path, Path]:
    """A teacher and a student checkpoint with the same random weights of `preset`'s model."""
    model = load_viewgen_preset(preset).model
    net = ViewGenNet(model)
    for kind in ("teacher", "student"):
        write_checkpoint(folder / kind, net, CheckpointInfo(kind=kind, model=model))
    return folder / "teacher", folder / "student"


def photo(size: int = 256) -> torch.Tensor:
    """A framed RGBA test photo: an orange disc."""
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    inside = (((xs - size / 2) ** 2 + (ys - size / 2) ** 2) < (0.4 * size) ** 2).float()
    return torch.stack([inside * 0.9, inside * 0.5, inside * 0.1, inside], dim=-1)


def synthetic_proxy(views: int, size: int) -> ProxyRender:
    """A proxy render of `views` views shaped like render_proxy's (timing only)."""
    g = torch.Generator().manual_seed(0)
    return ProxyRender(torch.rand(views, size, size, 4, generator=g), torch.full((views, size, size), 3.2),
                       torch.rand(views, size, size, generator=g))


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cpu", help="model preset for random weights (default cpu)")
    parser.add_argument("--teacher", type=Path, help="teacher checkpoint / run folder (default: random weights)")
    parser.add_argument("--student", type=Path, help="student checkpoint / run folder (default: random weights)")
    parser.add_argument("--views", type=int, default=16)
    parser.add_argument("--teacher-steps", type=int, default=50)
    parser.add_argument("--guidance", type=float, default=1.0, help="teacher CFG weight (!= 1 doubles its batch)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (teacher once, student 5x each)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        teacher_dir, student_dir = args.teacher, args.student
        if teacher_dir is None or student_dir is None:
            teacher_dir, student_dir = random_checkpoints(args.preset, Path(tmp))
        teacher = ViewGenerator.load(teacher_dir, args.device)
        student = ViewGenerator.load(student_dir, args.device)
    if teacher.info.model != student.info.model:
        print("note: teacher and student have different model configs")
    image, targets = photo(), target_orbit(args.views)
    proxy = synthetic_proxy(args.views, teacher.resolution)  # the proxy's render is made once per photo, untimed

    def run_teacher():
        teacher.generate(image, input_pose(), targets, steps=args.teacher_steps, seed=0, guidance=args.guidance,
                         proxy=proxy if teacher.needs_proxy else None)

    def run_student():
        student.generate(image, input_pose(), targets, steps=1, seed=0, proxy=proxy if student.needs_proxy else None)

    run_student()  # warm-up (first-call allocations)
    teacher_times, student_times = [], []
    for _ in range(args.rounds):
        teacher_times.append(timed(run_teacher))
        student_times += [timed(run_student) for _ in range(5)]

    m = teacher.info.model
    evals = 2 * args.teacher_steps - 1
    print(f"model: {m.resolution}px, channels {m.block_out_channels}, "
          f"{count_parameters(teacher.denoiser.backbone) / 1e6:.2f} M parameters; {args.views} views as one object; "
          f"{args.threads} threads on {args.device}")
    print(f"teacher: Heun over {args.teacher_steps} levels = {evals} evaluations"
          f"{' x2 batch (guidance %.1f)' % args.guidance if args.guidance != 1.0 else ''}; student: 1 evaluation")
    t_wall = statistics.median(t for t, _ in teacher_times)
    s_wall = statistics.median(t for t, _ in student_times)
    t_cpu = statistics.median(c for _, c in teacher_times)
    s_cpu = statistics.median(c for _, c in student_times)
    print(f"{'':10s} {'wall s':>10s} {'cpu s':>10s}")
    print(f"{'teacher':10s} {t_wall:10.3f} {t_cpu:10.3f}")
    print(f"{'student':10s} {s_wall:10.4f} {s_cpu:10.4f}")
    print(f"speedup: wall {t_wall / s_wall:.1f}x, cpu {t_cpu / s_cpu:.1f}x")
    print(f"RESULT teacher_s={t_wall:.3f} student_s={s_wall:.4f} speedup={t_wall / s_wall:.1f}")


if __name__ == "__main__":
    main()
