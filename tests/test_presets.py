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
