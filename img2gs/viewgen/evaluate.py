"""Evaluation of view generators against ground-truth renders (`img2gs eval views`).

For each validation sample (view 0 = input, views 1..V-1 = ground truth) every model generates all
target views in one call; PSNR, SSIM (img2gs.metrics) and LPIPS (img2gs.lpips, when its weights are
present) are computed on RGB composited on white, and the time per generated view is measured.
Models are compared on the same samples, seeds and poses, spread over the data sources and along each
(`spread_samples`), not the first N of the build order. Reference rows: the input photo itself as every
target view (a model that does not beat it has not learnt to turn the object) and, with proxy views,
the lifted proxy's render alone (a proxy-conditioned model must add to it, not only copy it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import Tensor

from img2gs.cameras import OrbitPose
from img2gs.data.selection import spread_samples
from img2gs.errors import Img2gsError
from img2gs.image_io import composite_on
from img2gs.image_io import resize_rgba
from img2gs.metrics import psnr, ssim
from img2gs.proxy.render import ProxyRender
from img2gs.viewgen.generator import ViewGenerator

LPIPS_MIN_SIDE = 32  # img2gs.lpips needs this; smaller views are upsampled (bilinear) for LPIPS only
BASELINE_LABEL = "input photo as every view"
PROXY_LABEL = "proxy render alone"


def entry_label(kind: str, steps: int) -> str:
    """The row label of a model setting, e.g. "teacher 18 steps", "student 1 step"."""
    return f"{kind} {steps} step{'s' if steps > 1 else ''}"


@dataclass(frozen=True)
class EvalEntry:
    """One model setting to evaluate."""

    label: str  # e.g. "teacher 25 steps", "student 1 step"
    generator: ViewGenerator
    steps: int
    guidance: float | None = None


@dataclass
class EvalRow:
    label: str
    kind: str
    steps: int
    psnr: float
    ssim: float
    lpips: float | None
    seconds_per_view: float
    views: int


@dataclass
class EvalReport:
    rows: list[EvalRow]
    samples: int
    resolution: int
    lpips_note: str = ""
    grid: list[Tensor] = field(default_factory=list)  # per sample: [1 + entries + 1, R, R, 3] images

    def to_json(self) -> dict:
        return {"samples": self.samples, "resolution": self.resolution, "lpips_note": self.lpips_note,
                "rows": [vars(r) for r in self.rows]}


def _lpips_fn():
    """LPIPS on images [..., H, W, 3] in [0, 1], or None with the reason it is unavailable."""
    try:
        from img2gs.lpips import lpips_distance

        probe = torch.zeros(1, LPIPS_MIN_SIDE, LPIPS_MIN_SIDE, 3)
        lpips_distance(probe, probe)
    except (ImportError, Img2gsError, OSError) as e:
        return None, f"LPIPS n/a ({e})"
    return lpips_distance, ""


def _upsample(images: Tensor, side: int) -> Tensor:
    """[N, H, W, 3] -> [N, side, side, 3], bilinear."""
    out = torch.nn.functional.interpolate(images.movedim(-1, -3), size=(side, side), mode="bilinear",
                                          align_corners=False)
    return out.movedim(-3, -1)


def _lpips(fn, pred: Tensor, target: Tensor) -> Tensor:
    if pred.shape[-2] < LPIPS_MIN_SIDE:
        pred, target = _upsample(pred, LPIPS_MIN_SIDE), _upsample(target, LPIPS_MIN_SIDE)
    return fn(pred, target)


def _add_scores(acc: dict, pred: Tensor, truth: Tensor, lpips_fn) -> None:
    """Add the summed PSNR / SSIM / LPIPS of views pred vs truth [V, R, R, 3] to the accumulator `acc`."""
    acc["psnr"] += float(psnr(pred, truth).sum())
    acc["ssim"] += float(ssim(pred, truth).sum())
    if lpips_fn is not None:
        acc["lpips"] += float(_lpips(lpips_fn, pred, truth).sum())
    acc["views"] += len(truth)


def evaluate_views(dataset, entries: list[EvalEntry], max_samples: int | None = None, seed: int = 0,
                   grid_samples: int = 4, baseline: bool = True, progress=None, proxies=None) -> EvalReport:
    """Metrics of every entry on `max_samples` samples of `dataset` (a ViewDataset) spread over its data
    sources (all samples by default), preceded by the reference rows: the input photo when `baseline`,
    the proxy's render when `proxies` (a ProxyViewStore of `dataset`; needed by proxy-conditioned models)."""
    if not entries:
        raise Img2gsError("nothing to evaluate: give --teacher and/or --student")
    resolutions = {e.generator.resolution for e in entries}
    if len(resolutions) != 1:
        raise Img2gsError(f"models have different resolutions {sorted(resolutions)}; evaluate them separately")
    if proxies is None and any(e.generator.needs_proxy for e in entries):
        raise Img2gsError("a proxy-conditioned model needs the dataset's proxy views (--proxies)")
    r = resolutions.pop()
    pool = proxies.indices if proxies is not None else list(range(len(dataset)))
    n = len(pool) if max_samples is None else min(max_samples, len(pool))
    if n == 0:
        raise Img2gsError("the evaluation split has no samples")
    chosen = [pool[k] for k in spread_samples([dataset.object_ids[i] for i in pool], n)]
    lpips_fn, note = _lpips_fn()
    references = ([BASELINE_LABEL] if baseline else []) + ([PROXY_LABEL] if proxies is not None else [])
    labels = references + [e.label for e in entries]
    sums = {label: {"psnr": 0.0, "ssim": 0.0, "lpips": 0.0, "seconds": 0.0, "views": 0} for label in labels}
    grid = []
    for done, i in enumerate(chosen, 1):
        sample = dataset[i]
        images, poses = sample["images"], sample["poses"]  # [V, H, W, 4], [V, 3]
        photo = images[0]
        truth = composite_on(torch.stack([resize_rgba(im, r) for im in images[1:]]), 1.0)  # [V-1, R, R, 3]
        targets = [OrbitPose(*map(float, p)) for p in poses[1:]]
        row = [composite_on(resize_rgba(photo, r), 1.0)]  # [R, R, 3]
        if baseline:
            _add_scores(sums[BASELINE_LABEL], row[0].expand_as(truth), truth, lpips_fn)
        proxy = None
        if proxies is not None:
            full = proxies[i]  # all V views; view 0 is the photo's own
            proxy = ProxyRender(full.rgba[1:], full.depth[1:], full.seen[1:])
            proxy_views = composite_on(resize_rgba(proxy.rgba, r), 1.0)  # [V-1, R, R, 3]
            _add_scores(sums[PROXY_LABEL], proxy_views, truth, lpips_fn)
            row.append(proxy_views[0])
        for entry in entries:
            t0 = time.perf_counter()
            views = entry.generator.generate(photo, OrbitPose(*map(float, poses[0])), targets, steps=entry.steps,
                                             seed=seed + i, guidance=entry.guidance,
                                             proxy=proxy if entry.generator.needs_proxy else None)
            seconds = time.perf_counter() - t0
            pred = composite_on(views, 1.0)  # [V-1, R, R, 3]
            _add_scores(sums[entry.label], pred, truth, lpips_fn)
            sums[entry.label]["seconds"] += seconds
            row.append(pred[0])
        if done <= grid_samples:
            grid.append(torch.stack([row[0], truth[0], *row[1:]]))
        if progress is not None:
            progress(done, n)
    kinds = {BASELINE_LABEL: ("baseline", 0), PROXY_LABEL: ("baseline", 0),
             **{e.label: (e.generator.kind, e.steps) for e in entries}}
    rows = []
    for label in labels:
        acc, (kind, steps) = sums[label], kinds[label]
        k = max(acc["views"], 1)
        rows.append(EvalRow(label=label, kind=kind, steps=steps, psnr=acc["psnr"] / k, ssim=acc["ssim"] / k,
                            lpips=acc["lpips"] / k if lpips_fn is not None else None,
                            seconds_per_view=acc["seconds"] / k, views=acc["views"]))
    return EvalReport(rows=rows, samples=n, resolution=r, lpips_note=note, grid=grid)


def grid_image(report: EvalReport, scale: int = 4) -> Tensor:
    """[rows * R * scale, cols * R * scale, 3] image: per sample input, ground truth, then each model."""
    if not report.grid:
        raise Img2gsError("no samples for a grid")
    rows = [torch.cat(list(cells), dim=1) for cells in report.grid]  # each [R, cols * R, 3]
    image = torch.cat(rows, dim=0)
    return image.repeat_interleave(scale, 0).repeat_interleave(scale, 1)
