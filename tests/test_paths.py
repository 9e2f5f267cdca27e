from pathlib import Path

import pytest

from img2gs import paths
from img2gs.errors import CheckpointError


def test_a_given_model_folder_wins_and_the_default_is_looked_up_in_order(tmp_path, monkeypatch):
    assert paths.resolve_model_dir(tmp_path) == tmp_path
    first, second = tmp_path / "env", tmp_path / "cache"
    second.mkdir()
    (second / "config.json").write_text("{}")
    monkeypatch.setattr(paths, "checkpoint_search_paths", lambda: [first, second])
    assert paths.resolve_model_dir(None) == second


def test_no_model_anywhere_is_one_error_that_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "checkpoint_search_paths", lambda: [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(CheckpointError, match=r"looked in .*a, .*b\): pass --model DIR or set IMG2GS_MODEL"):
        paths.resolve_model_dir(None)
    from img2gs.viewgen.generator import ViewGenerator

    with pytest.raises(CheckpointError, match="looked in"):  # the generator uses the same lookup
        ViewGenerator.load(None)


def test_the_model_env_var_comes_first(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.MODEL_ENV_VAR, str(tmp_path))
    assert paths.checkpoint_search_paths()[0] == Path(tmp_path)
