"""Teacher training throughput at 1 and 2 processes (torchrun, DDP over gloo), side by side in one run.

Each row runs the real command, `img2gs train teacher --data DIR --proxies P --preset cpu --steps K`,
(its teacher batch rounded up to an even number of objects) in a temporary run folder, in 1 process (all cores) or under `torchrun --standalone --nproc-per-node 2`
(one thread each), and reads the training speed from the run's own log (it/s over the logged steps
after the first, so start-up is excluded); samples/s = it/s x batch objects x views per object. The
global batch is the same in both rows (each process takes half of it), so the two rows train the same
model (tests/viewgen/test_distributed.py); what differs is how the cores are used.

Projected GPU row: the `gpu` preset's steps in 8 minutes are NOT measured here (no GPU in this
session); they are estimated from the CPU row by a stated FLOP ratio and labelled as such.

    .venv/bin/python bench/train_scale.py --data data/cpu --proxies data/cpu_proxies32_p7 --steps 60
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from img2gs.viewgen.config import load_viewgen_preset

# Dense bf16 throughput of one H100/H200 (about 990 TFLOP/s) against the AVX-512 CPU's (about 0.2
# TFLOP/s on 2 cores, fp32) at a realistic 30% / 60% utilisation: a stated ESTIMATE, not a measurement.
GPU_OVER_CPU_ESTIMATE = (990e12 * 0.3) / (0.2e12 * 0.6)


def run_row(nproc: int, data: Path, proxies: Path | None, preset: str, steps: int, threads: int) -> float:
    """it/s of `img2gs train teacher` at `nproc` processes (from log.jsonl)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        command = ["train", "teacher", "--data", str(data), "-o", str(out), "--preset", preset, "--device", "cpu",
                   "--steps", str(steps)]
        if proxies is not None:
            command += ["--proxies", str(proxies)]
        launch = ([sys.executable, "-m", "img2gs"] if nproc == 1 else
                  [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
                   "-m", "img2gs"])
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
        subprocess.run([*launch, *command], check=True, env=env, stdout=subprocess.DEVNULL)
        rates = [json.loads(line)["it_per_s"] for line in (out / "log.jsonl").read_text().splitlines()]
    return sum(rates[1:]) / max(len(rates) - 1, 1)


def _even_batch_preset(name: str) -> Path:
    """The preset with its teacher batch rounded up to an even number of objects (2 processes split it)."""
    from img2gs.presets import preset_path

    values = json.loads(preset_path("viewgen", name).read_text())
    loop = values.setdefault("teacher", {}).setdefault("loop", {})
    objects = loop.get("batch_objects", load_viewgen_preset(name).teacher.loop.batch_objects)
    loop["batch_objects"] = objects + objects % 2
    path = Path(tempfile.mkdtemp()) / f"{Path(name).stem}_even.json"
    path.write_text(json.dumps(values))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--proxies", type=Path, default=None)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    print(f"command: python {' '.join(sys.argv)}", flush=True)
    loop = load_viewgen_preset(args.preset).teacher.loop
    preset_file = _even_batch_preset(args.preset)  # both rows train the same global batch, split in two
    loop = load_viewgen_preset(str(preset_file)).teacher.loop
    per_step = loop.batch_objects * loop.views_per_object
    cores = os.cpu_count() or 1
    rows = [(1, cores), (2, max(cores // 2, 1))]
    print(f"teacher, preset {args.preset}: {loop.batch_objects} objects x {loop.views_per_object} views per step")
    print("| processes | threads each | it/s | samples/s |")
    print("| --- | --- | --- | --- |")
    for nproc, threads in rows:
        rate = run_row(nproc, args.data, args.proxies, str(preset_file), args.steps, threads)
        print(f"| {nproc} | {threads} | {rate:.2f} | {rate * per_step:.1f} |", flush=True)
        if nproc == 1:
            single = rate
    cpu_model, gpu_preset = load_viewgen_preset(args.preset).model, load_viewgen_preset("gpu")
    gpu = gpu_preset.teacher.loop
    # FLOPs per sample grow with the pixels and (conv layers) the square of the width
    flops_per_sample = ((gpu_preset.model.resolution / cpu_model.resolution) ** 2
                        * (gpu_preset.model.block_out_channels[0] / cpu_model.block_out_channels[0]) ** 2)
    samples_ratio = (gpu.batch_objects * gpu.views_per_object) / per_step
    projected = single * GPU_OVER_CPU_ESTIMATE / (samples_ratio * flops_per_sample) * 8 * 60
    print(f"gpu preset ({gpu_preset.model.resolution} px, widths {gpu_preset.model.block_out_channels}, "
          f"{gpu.batch_objects} x {gpu.views_per_object} per step, {gpu.steps:,} steps): ESTIMATED {projected:,.0f} "
          f"steps in 8 minutes on one H100/H200 (x{GPU_OVER_CPU_ESTIMATE:.0f} the CPU's FLOP rate, "
          f"x{flops_per_sample:.0f} the FLOPs per sample: an estimate, not a measurement)")


if __name__ == "__main__":
    main()
