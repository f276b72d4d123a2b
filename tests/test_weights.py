"""Weight resolution: local folder, Hugging Face cache (offline), and the missing-files error."""

from __future__ import annotations

from pathlib import Path

import pytest

from model import weights
from model.weights import FILES, MissingWeightsError, resolve
from tests.helpers import install_in_hub_cache


def _touch_tree(root: Path, keys=None) -> None:
    for f in FILES:
        if keys is None or f.key in keys:
            (root / f.local_path).parent.mkdir(parents=True, exist_ok=True)
            (root / f.local_path).write_bytes(b"x")


@pytest.mark.parametrize("mode", weights.MODES)
def test_local_folder_resolves_every_file_of_the_mode(tmp_path, mode) -> None:
    _touch_tree(tmp_path)
    found = resolve(mode, tmp_path)
    assert set(found.paths) == {f.key for f in weights.files_for(mode)}
    folder = "liveportrait" if mode == "human" else "liveportrait_animals"
    assert found.network("warping_module") == tmp_path / folder / "base_models" / "warping_module.pth"


def test_joyvasa_linux_hubert_folder_name_is_accepted(tmp_path) -> None:
    _touch_tree(tmp_path, keys={f.key for f in FILES if f.key != "hubert_config"})
    alias = tmp_path / "TencentGameMate:chinese-hubert-base" / "config.json"
    alias.parent.mkdir()
    alias.write_text("{}")
    assert resolve("human", tmp_path)["hubert_config"] == alias


def test_missing_files_are_listed_with_the_way_to_get_them(tmp_path, monkeypatch) -> None:
    _touch_tree(tmp_path, keys={"stitching", "motion_template"})
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(tmp_path))
    with pytest.raises(MissingWeightsError) as info:
        resolve("animal")
    message = str(info.value)
    assert "liveportrait_animals/base_models/spade_generator.pth" in message
    assert "JoyVASA/motion_generator/motion_generator_hubert_chinese.pt" in message
    assert "stitching_retargeting_module.pth" not in message  # present
    assert "xpose.pth" not in message  # optional
    assert weights.WEIGHTS_ENV in message and "huggingface.co/KwaiVGI/LivePortrait" in message
    assert {f.key for f in info.value.missing} == {
        f.key for f in weights.files_for("animal") if f.required and f.key not in ("stitching", "motion_template")
    }


def test_offline_hub_cache_is_used_and_nothing_else(tmp_path, hub_cache) -> None:
    tree = tmp_path / "tree"
    _touch_tree(tree)
    with pytest.raises(MissingWeightsError, match="Hugging Face Hub"):
        resolve("human")
    install_in_hub_cache(tree, hub_cache)
    found = resolve("human")
    assert found["motion_generator"].name == "motion_generator_hubert_chinese.pt"
    assert str(hub_cache) in str(found["hubert_config"])
    assert all(s.present for s in weights.status() if "human" in s.file.modes)


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        resolve("robot")
