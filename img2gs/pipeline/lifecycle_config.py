"""The config of `img2gs train all` (configs/lifecycle/*.json) and its budget rule.

A lifecycle preset names the presets of its stages (data build, shape stage, view generator) and says
how a wall-clock budget becomes step counts (`BudgetRule.steps_for`): the estimated seconds of the
stages that do not train (data, proxies, evaluation) are taken off first, the rest is shared between
the three trainers by fixed fractions, and each share is divided by that trainer's seconds per step,
measured on the machine the preset is made for. The rule runs once, when a run starts; its result is
recorded in the run folder (plan.json), so a resumed run trains exactly the steps an uninterrupted one
would, whatever the machine it resumes on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from img2gs.errors import PresetError
from img2gs.presets import load_preset

TRAINED_STAGES = ("shape", "teacher", "distill")


@dataclass(frozen=True)
class StageNumbers:
    """One number per trained stage."""

    shape: float
    teacher: float
    distill: float

    def of(self, stage: str) -> float:
        return getattr(self, stage)


@dataclass(frozen=True)
class BudgetRule:
    seconds_per_step: StageNumbers  # measured on the preset's machine
    shares: StageNumbers  # of the training time; they sum to 1
    data_s: float = 0.0  # estimated seconds of the stages that do not train
    proxies_s: float = 0.0
    eval_s: float = 0.0
    min_steps: int = 1

    def __post_init__(self) -> None:
        total = sum(self.shares.of(s) for s in TRAINED_STAGES)
        if abs(total - 1.0) > 1e-6 or min(self.shares.of(s) for s in TRAINED_STAGES) < 0:
            raise PresetError(f"budget shares must be >= 0 and sum to 1, got {total:g}")
        if min(self.seconds_per_step.of(s) for s in TRAINED_STAGES) <= 0:
            raise PresetError("budget seconds_per_step must be > 0")
        if self.min_steps < 1:
            raise PresetError("budget min_steps must be >= 1")

    @property
    def fixed_s(self) -> float:
        return self.data_s + self.proxies_s + self.eval_s

    def steps_for(self, budget_s: float) -> dict[str, int]:
        """Steps of each trained stage for a whole run of `budget_s` seconds."""
        train_s = budget_s - self.fixed_s
        if train_s <= 0:
            raise PresetError(f"a budget of {budget_s:.0f} s is too small: the data, proxy and evaluation stages "
                              f"alone are estimated at {self.fixed_s:.0f} s")
        return {s: max(self.min_steps, math.floor(train_s * self.shares.of(s) / self.seconds_per_step.of(s)))
                for s in TRAINED_STAGES}

    def describe(self) -> str:
        parts = ", ".join(f"{s}: share {self.shares.of(s):g} / {self.seconds_per_step.of(s):g} s per step"
                          for s in TRAINED_STAGES)
        return (f"steps = max({self.min_steps}, floor((budget - {self.fixed_s:g} s) * share / seconds per step)); "
                f"{parts}")


@dataclass(frozen=True)
class EvalSettings:
    max_samples: int = 32
    teacher_steps: tuple[int, ...] = (18, 1)
    student_steps: tuple[int, ...] = (1, 2, 4)


@dataclass(frozen=True)
class LifecycleConfig:
    budget: BudgetRule  # used with --budget; without it the stage presets' own step counts are trained
    data: str = "cpu"  # data preset (configs/data/)
    shape: str = "cpu"  # shape-stage preset (configs/shape/)
    viewgen: str = "cpu"  # generator preset (configs/viewgen/): teacher and distillation
    shape_init: str | None = None  # fine-tune the shape stage from this checkpoint instead of from scratch
    proxy_resolution: int = 32  # the generator's resolution
    proxy_train_shards: int | None = None  # proxy views for only this many train shards (spread); None: all
    eval: EvalSettings = field(default_factory=EvalSettings)
    weights_dtype: str = "float16"  # of the packaged model (the run folders keep float32)

    def __post_init__(self) -> None:
        if self.weights_dtype not in ("float16", "bfloat16", "float32"):
            raise PresetError(f"weights_dtype must be float16, bfloat16 or float32, got {self.weights_dtype!r}")


def load_lifecycle_preset(name: str) -> LifecycleConfig:
    return load_preset(LifecycleConfig, "lifecycle", name)
