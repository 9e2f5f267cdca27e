"""A packaged model folder, what `reconstruct --model` takes and `assets/model/` is:

    config.json + model.safetensors   the consistency student (the view generator)
    shape/                            the shape stage (config.json + model.safetensors)
    MODEL_CARD.md                     how it was made (the resolved options) and its evaluation table
    eval.json                         that evaluation, as numbers
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from img2gs.atomic import CHECKPOINT, atomic_directory

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
MODEL_CARD = "MODEL_CARD.md"


def package_model(student_run: Path, shape_run: Path, destination: Path, report: dict, plan: dict,
                  weights_dtype: str = "float16") -> Path:
    """Write the model folder `destination` atomically from a student run and a shape run."""
    from img2gs.shape.checkpoint import load_shape_checkpoint
    from img2gs.viewgen.checkpoint import load_checkpoint, write_checkpoint

    dtype = DTYPES[weights_dtype]
    student, student_info = load_checkpoint(student_run)
    shape, shape_info = load_shape_checkpoint(shape_run)
    with atomic_directory(destination, kinds=(CHECKPOINT,)) as tmp:
        write_checkpoint(tmp, student, student_info, dtype)
        write_checkpoint(tmp / "shape", shape, shape_info, dtype)
        (tmp / "eval.json").write_text(json.dumps(report, indent=2) + "\n")
        (tmp / MODEL_CARD).write_text(model_card(report, plan, weights_dtype))
    return destination


def eval_table(report: dict) -> str:
    """The `eval views` rows as a Markdown table."""
    lines = ["| model | PSNR | SSIM | LPIPS | s / view |", "| --- | --- | --- | --- | --- |"]
    for row in report["rows"]:
        lpips = "n/a" if row["lpips"] is None else f"{row['lpips']:.4f}"
        lines.append(f"| {row['label']} | {row['psnr']:.2f} | {row['ssim']:.4f} | {lpips} | "
                     f"{row['seconds_per_view']:.4f} |")
    return "\n".join(lines)


def model_card(report: dict, plan: dict, weights_dtype: str) -> str:
    steps = plan["steps"]
    budget = "none (the stage presets' step counts)" if plan["budget_s"] is None else f"{plan['budget_s']:.0f} s"
    lifecycle = plan["lifecycle"]
    return f"""# img2gs model, made by `img2gs train all --preset {plan['preset']}`

Started {plan['created_at']}. A shape stage (`shape/`) and a one-step consistency view generator
(`config.json`, `model.safetensors`, {weights_dtype}), trained from scratch on data this run built.
Use it with `img2gs reconstruct photo.png -o scene.ply --model <this folder>`.

## Evaluation

`eval views` on {report['samples']} validation samples at {report['resolution']} px (the input photo
repeated at every pose and the proxy's render alone are the references):

{eval_table(report)}

## How it was made

| stage | preset | steps |
| --- | --- | --- |
| data | `{lifecycle['data']}` (meshes: {plan['meshes'] or 'none'}) | |
| shape stage | `{lifecycle['shape']}` | {steps['shape']} |
| proxies | {lifecycle['proxy_resolution']} px | |
| teacher | `{lifecycle['viewgen']}` | {steps['teacher']} |
| distillation | `{lifecycle['viewgen']}` | {steps['distill']} |

Budget: {budget}; rule: {plan['rule']}.

The resolved options of every stage (the run folder's `plan.json`):

```json
{json.dumps({k: plan[k] for k in ('lifecycle', 'data', 'shape', 'teacher', 'distill')}, indent=2)}
```
"""
