"""Benchmark of the product: `reconstruct` (a preset, default "default") on the shipped example photos,
each in a fresh process on this machine's CPU, as an artist would run it.

Reports per photo the stage breakdown (preprocess, shape, views, fit, mesh, export), the wall time of the whole
process (imports and model loading included) and the peak resident memory; last line:
    RESULT wall_s_median=… mesh_s_median=… peak_rss_mb=…
(`mesh`: the whole mesh export, TSDF fusion to the textured .glb on disk.)

Reproduce: .venv/bin/python bench/reconstruct.py [--preset default] [--photos assets/examples/*.jpg]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_one(photo: str, out_dir: str, preset: str) -> None:
    """Child process: reconstruct one photo (with a mesh) and print the stage timings as JSON."""
    from img2gs.pipeline.outputs import ReconstructOutputs
    from img2gs.pipeline.reconstruct import load_reconstruct_config, reconstruct

    stem = Path(photo).stem
    outputs = ReconstructOutputs(ply=Path(out_dir) / f"{stem}.ply", mesh=Path(out_dir) / f"{stem}.glb", force=True)
    report = reconstruct(photo, outputs, load_reconstruct_config(preset))
    print(json.dumps({"timings": report.timings, "n_gaussians": report.n_gaussians}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--photos", nargs="*", default=sorted(glob.glob(str(REPO / "assets/examples/*.jpg"))))
    parser.add_argument("--one", nargs=2, metavar=("PHOTO", "OUT_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.one[0], args.one[1], args.preset)
        return
    print(f"# reproduce: .venv/bin/python bench/reconstruct.py --preset {args.preset}")
    print(f"# {os.cpu_count()} CPU cores; each photo in a fresh process (imports + model load included)")
    walls, meshes, peak_kb = [], [], 0
    with tempfile.TemporaryDirectory() as out_dir:
        for photo in args.photos:
            start = time.perf_counter()
            child = subprocess.run([sys.executable, __file__, "--preset", args.preset, "--one", photo, out_dir],
                                   capture_output=True, text=True, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
            wall = time.perf_counter() - start
            if child.returncode != 0:
                print(f"{Path(photo).name}: FAILED\n{child.stderr[-2000:]}")
                continue
            report = json.loads(child.stdout.strip().splitlines()[-1])
            peak_kb = max(peak_kb, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            walls.append(wall)
            meshes.append(report["timings"].get("mesh", float("nan")))
            stages = "  ".join(f"{k}={v:.1f}s" for k, v in report["timings"].items())
            print(f"{Path(photo).name}: wall={wall:.1f}s  {stages}  gaussians={report['n_gaussians']}")
    if walls:
        print(f"RESULT wall_s_median={statistics.median(walls):.1f} mesh_s_median={statistics.median(meshes):.1f} "
              f"peak_rss_mb={peak_kb / 1024:.0f}")


if __name__ == "__main__":
    main()
