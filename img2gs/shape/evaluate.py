"""Evaluation of the shape stage on validation samples (`img2gs eval shape`).

Per sample (view 0 = the photo, its true depth layers, views 1..V-1 = held-out renders):
    front / back error   mean |predicted - true| camera z on the object's pixels (unit-sphere units;
                         the object spans about 1.6 of them)
    elevation error      |estimated - true| input elevation, degrees; its median is also given over the
                         UPRIGHT samples alone: the build tumbles a fifth of the generated objects over
                         all of SO(3) (data/config.py), and a photo that shows no up holds no elevation
    IoU                  silhouette IoU at the held-out poses of the lifted proxy (img2gs.proxy),
                         lifted with the estimated elevation, against the true renders
and the references on the same samples: the proxy of the TRUE depth layers (what a perfect shape
stage would give through the same lift) and the photo's own silhouette shown at every pose.
Rows per data source and over all samples. A sample whose object covers no pixel (a sword seen edge-on
at 64 px) cannot be lifted: it is skipped and listed.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import torch

from img2gs.cameras import input_pose
from img2gs.data.build import was_tumbled
from img2gs.data.selection import data_source, spread_samples
from img2gs.metrics import mask_iou
from img2gs.proxy.lift import LiftConfig, lift_photo
from img2gs.proxy.render import render_proxy_at_orbit
from img2gs.shape.estimator import ShapeEstimator
from img2gs.shape.loss import object_mask

METRICS = ("front_err", "back_err", "elev_err", "iou", "iou_true_elev", "iou_true_depth", "iou_photo")


@dataclass
class ShapeEvalReport:
    per_sample: list[dict] = field(default_factory=list)  # object_id, source, upright, and METRICS
    skipped: list[str] = field(default_factory=list)  # samples with no object pixel at the shape stage's size

    def rows(self) -> dict[str, dict[str, float]]:
        """source -> {metric: mean (elev_err: median), "samples": n}, plus "all"."""
        groups: dict[str, list[dict]] = {}
        for s in self.per_sample:
            groups.setdefault(s["source"], []).append(s)
        groups["all"] = self.per_sample
        out = {}
        for name, samples in groups.items():
            row = {m: statistics.mean(s[m] for s in samples) for m in METRICS}
            row["elev_err"] = statistics.median(s["elev_err"] for s in samples)
            upright = [s["elev_err"] for s in samples if s["upright"]]
            row["elev_err_upright"] = statistics.median(upright) if upright else float("nan")
            row["upright"] = len(upright)
            row["samples"] = len(samples)
            out[name] = row
        return out


def lifted_iou(photo, front, back, valid, elevation, poses, truth_alpha, lift: LiftConfig) -> float:
    """Mean silhouette IoU at `poses` [T, 3] of the photo lifted on (front, back) from `elevation`."""
    proxy = lift_photo(photo, front, back, valid, input_pose(elevation), lift)
    render = render_proxy_at_orbit(proxy, poses, truth_alpha.shape[-1])
    return float(mask_iou(render.rgba[..., 3] > 0.5, truth_alpha > 0.5).mean())


def sample_number(object_ids: list[str], index: int) -> int:
    """k of the dataset's sample `index` among its object's samples (the build writes them in order)."""
    return object_ids[:index].count(object_ids[index])


@torch.no_grad()
def evaluate_shape(estimator: ShapeEstimator, dataset, samples: int = 32) -> ShapeEvalReport:
    report = ShapeEvalReport()
    build_config = getattr(dataset, "meta", {}).get("config")  # None: not a build folder, all taken as upright
    for index in spread_samples(dataset.object_ids, samples):
        item = dataset[index]
        images, poses, depth = item["images"], item["poses"], item["depth"]  # [V,H,W,4], [V,3], [2,H,W]
        photo, size = images[0], images.shape[1]
        estimate = estimator(photo)
        mask = object_mask(photo[None, ..., 3], depth[None])[0]
        if not bool(mask.any()) or not bool(estimate.valid.any()):  # too thin to lift at these sizes
            report.skipped.append(item["object_id"])
            continue
        err = lambda pred, true: float((pred - true).abs()[mask].mean())  # noqa: E731
        front = torch.nn.functional.interpolate(estimate.front[None, None], size=(size, size), mode="bilinear")[0, 0]
        back = torch.nn.functional.interpolate(estimate.back[None, None], size=(size, size), mode="bilinear")[0, 0]
        lift = LiftConfig(size=size)
        true_elev = float(poses[0, 0])
        targets, truth = poses[1:], images[1:, ..., 3]
        report.per_sample.append({
            "object_id": item["object_id"], "source": data_source(item["object_id"]),
            "upright": build_config is None or not was_tumbled(build_config, item["object_id"],
                                                                sample_number(dataset.object_ids, index)),
            "front_err": err(front, depth[0]), "back_err": err(back, depth[1]),
            "elev_err": abs(estimate.elevation - true_elev),
            "iou": lifted_iou(photo, estimate.front, estimate.back, estimate.valid, estimate.elevation, targets,
                              truth, lift),
            "iou_true_elev": lifted_iou(photo, estimate.front, estimate.back, estimate.valid, true_elev, targets,
                                        truth, lift),
            "iou_true_depth": lifted_iou(photo, depth[0], depth[1], mask, true_elev, targets, truth, lift),
            "iou_photo": float(mask_iou((photo[..., 3] > 0.5).expand_as(truth), truth > 0.5).mean()),
        })
    return report
