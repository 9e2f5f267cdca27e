import dataclasses
import json

import pytest

from img2gs.errors import PresetError
from img2gs.presets import deep_update, from_dict, load_preset, to_dict


@dataclasses.dataclass(frozen=True)
class Inner:
    a: int = 1
    b: tuple[int, ...] = (1, 2)


@dataclasses.dataclass(frozen=True)
class Outer:
    x: float = 0.5
    inner: Inner = dataclasses.field(default_factory=Inner)


def test_from_dict_builds_nested_and_tuples():
    cfg = from_dict(Outer, {"x": 2.0, "inner": {"b": [3, 4]}})
    assert cfg == Outer(x=2.0, inner=Inner(a=1, b=(3, 4)))
    assert from_dict(Outer, to_dict(cfg)) == cfg


def test_unknown_field_is_an_error():
    with pytest.raises(PresetError, match="unknown field"):
        from_dict(Outer, {"inner": {"c": 1}})


def test_load_preset_from_path_with_overrides(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"_comment": "x", "x": 3.0}))
    assert load_preset(Outer, "nokind", str(path), x=None) == Outer(x=3.0)
    assert load_preset(Outer, "nokind", str(path), x=4.0).x == 4.0
    with pytest.raises(PresetError, match="unknown nokind preset"):
        load_preset(Outer, "nokind", "nope")


def test_deep_update_merges_without_mutating():
    base = {"a": 1, "n": {"p": 1, "q": 2}}
    merged = deep_update(base, {"n": {"q": 3}, "b": 2})
    assert merged == {"a": 1, "b": 2, "n": {"p": 1, "q": 3}}
    assert base == {"a": 1, "n": {"p": 1, "q": 2}}


def _loaders():
    from img2gs.pipeline.lifecycle_config import load_lifecycle_preset
    from img2gs.pipeline.reconstruct import load_reconstruct_config
    from img2gs.pipeline.train_all import make_plan
    from img2gs.shape.config import load_shape_preset
    from img2gs.splat.fit import FitConfig
    from img2gs.viewgen.config import load_viewgen_preset
    from img2gs.data.config import DataBuildConfig

    return {"data": lambda name: load_preset(DataBuildConfig, "data", name),
            "reconstruct": load_reconstruct_config, "shape": load_shape_preset,
            "splat": lambda name: load_preset(FitConfig, "splat", name), "viewgen": load_viewgen_preset,
            "lifecycle": lambda name: _lifecycle(load_lifecycle_preset(name), make_plan(load_lifecycle_preset(name),
                                                                                      name, None, None))}


def _lifecycle(config, plan):
    """A lifecycle preset, once the presets it names have been resolved into its plan too."""
    assert plan["steps"] and plan["data"] and plan["teacher"]
    return config


def test_every_preset_file_of_every_kind_loads_and_validates():
    from img2gs.presets import CONFIG_DIR, preset_names

    loaders = _loaders()
    assert sorted(p.name for p in CONFIG_DIR.iterdir() if p.is_dir()) == sorted(loaders)  # no kind unloaded
    for kind, load in loaders.items():
        names = preset_names(kind)
        assert names, kind
        for name in names:
            assert dataclasses.is_dataclass(load(name)), (kind, name)


@pytest.mark.parametrize("kind, bad", [
    ("splat", {"iterations": -1}),
    ("splat", {"loss": {"needle_weight": -1.0}}),
    ("reconstruct", {"n_views": 40}),
    ("reconstruct", {"fit": {"preset": "fast", "eps2d": "wide", "init": "nowhere"}}),
    ("shape", {"loop": {"steps": 0}}),
    ("viewgen", {"model": {"resolution": 3}}),
])
def test_an_invalid_value_in_any_preset_is_a_preset_error(tmp_path, kind, bad):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(PresetError):
        _loaders()[kind](str(path))
