"""Models load once per (kind, folder, device) and process."""

from img2gs.model_cache import load_once


def test_load_once_loads_each_key_once(tmp_path):
    calls = []

    def loader(tag):
        return lambda: calls.append(tag) or tag

    assert load_once("a", tmp_path, "cpu", loader(1)) == 1
    assert load_once("a", tmp_path / ".", "cpu", loader(2)) == 1  # the same folder, spelled otherwise
    assert load_once("b", tmp_path, "cpu", loader(3)) == 3  # another kind of model
    assert calls == [1, 3]
