"""How long the command line takes to start, side by side in one run: `img2gs --version`, `img2gs
--help` (which must import neither torch, numba, trimesh nor the pipeline: the command modules import
them inside the commands) and a bad-input error (`reconstruct missing.png`: one line, exit 2), against `python -c "import torch"` and the bare interpreter as references.
Each row is the median wall time of fresh processes, alternated.

    .venv/bin/python bench/cli_startup.py            # 7 rounds
    .venv/bin/python bench/cli_startup.py --rounds 15
    .venv/bin/python bench/cli_startup.py --old 85953cf   # also each img2gs row of that commit (a git
                                                          # worktree, run from its folder), alternated
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

HEAVY = ("torch", "numba", "trimesh", "diffusers", "img2gs.pipeline.reconstruct")
ROWS = {
    "python (bare interpreter, reference)": [sys.executable, "-c", "pass"],
    "img2gs --version": [sys.executable, "-m", "img2gs", "--version"],
    "img2gs --help": [sys.executable, "-m", "img2gs", "--help"],
    "img2gs reconstruct missing.png (exit 2)": [sys.executable, "-m", "img2gs", "reconstruct", "missing.png", "-o",
                                                "/nonexistent/x.ply"],
    "python -c 'import torch' (reference)": [sys.executable, "-c", "import torch"],
}


def heavy_modules_after(args: list[str]) -> list[str]:
    """The HEAVY modules loaded once the CLI has handled `args` (in a fresh process)."""
    probe = ("import sys; sys.argv = ['img2gs', *sys.argv[1:]]\nfrom img2gs.cli import main\ntry:\n    main()\n"
             "except SystemExit:\n    pass\n"
             f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True)
    line = [text for text in out.stdout.splitlines() if text.startswith("HEAVY:")][-1]
    return [m for m in line[len("HEAVY:"):].split(",") if m]


@contextlib.contextmanager
def worktree(rev: str | None):
    """A temporary git worktree of `rev` (None: no worktree). Run from its folder, `python -m img2gs`
    imports that tree's package (the current directory comes first on sys.path)."""
    if rev is None:
        yield None
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(folder), rev], check=True)
        try:
            yield folder
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(folder)], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--old", default=None, help="Also time the img2gs rows at this git revision.")
    args = parser.parse_args()
    print(f"command: {sys.executable} bench/cli_startup.py --rounds {args.rounds}"
          + (f" --old {args.old}" if args.old else ""))
    with worktree(args.old) as old:
        rows = {name: (command, None) for name, command in ROWS.items()}
        if old is not None:
            rows.update({f"{name} @ {args.old}": (command, old) for name, command in ROWS.items()
                         if name.startswith("img2gs")})
        times = _time_rows(rows, args.rounds)
    for name, values in times.items():
        print(f"{name:52s} {statistics.median(values) * 1000:7.0f} ms")
    for args_ in (["--version"], ["--help"], ["reconstruct", "missing.png", "-o", "/nonexistent/x.ply"]):
        print(f"heavy modules imported by img2gs {' '.join(args_)}: {heavy_modules_after(args_) or 'none'}")
    version, torch_import = (statistics.median(times[k]) for k in ("img2gs --version",
                                                                    "python -c 'import torch' (reference)"))
    print(f"RESULT img2gs --version {version * 1000:.0f} ms = {version / torch_import:.2f}x an `import torch`")


def _time_rows(rows: dict[str, tuple[list[str], Path | None]], rounds: int) -> dict[str, list[float]]:
    """Median-ready wall times of each row's command (run in its folder), the rows alternated per round."""
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(rounds):
        for name, (command, folder) in rows.items():
            start = time.perf_counter()
            subprocess.run(command, capture_output=True, check=False, cwd=folder)  # the bad-input row exits 2
            times[name].append(time.perf_counter() - start)
    return times


if __name__ == "__main__":
    main()
