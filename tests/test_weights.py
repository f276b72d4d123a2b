"""Weight resolution: the pinned manifest, local folder, Hugging Face cache (offline), Hub failure causes,
verification of every file, and the missing-files error."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from model import weights
from model.weights import FILES, MissingWeightsError, WeightMismatchError, resolve, write_local_manifest
from tests.helpers import install_in_hub_cache


def _touch_tree(root: Path, keys=None, manifest: bool = True) -> None:
    """One-byte stand-ins for every file (or ``keys``), with the folder's own manifest pinning them."""
    written = []
    for f in FILES:
        if (keys is None or f.key in keys) and not f.on_demand:
            (root / f.local_path).parent.mkdir(parents=True, exist_ok=True)
            (root / f.local_path).write_bytes(b"x")
            written.append(f.key)
    if manifest:
        write_local_manifest(root, written, "test stand-ins")


def test_hub_revisions_are_pinned_commits() -> None:
    assert weights.LIVEPORTRAIT == weights.HubRepo("KlingTeam/LivePortrait", "82a4fa6735ca58432b6ce39301b4b9ee066dea47")
    assert weights.JOYVASA == weights.HubRepo("jdh-algo/JoyVASA", "b8f13fe9c23679c56f21b1baafb92ed00dc087c3")
    assert weights.HUBERT.revision == "fce0375452b1dd6c080ac3248d423d4d037bc831"
    for f in FILES:
        assert re.fullmatch(r"[0-9a-f]{40}", f.repo.revision), f.key


def test_manifest_pins_the_official_files() -> None:
    assert weights.FILES_BY_KEY["motion_generator"].size == 414_067_833
    for f in FILES:
        assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256), f.key
        if f.key.endswith((".pth", "_module", "_extractor", "_generator")) or f.local_path.endswith((".pth", ".onnx")):
            assert f.size and f.sha256, f"{f.key} has no pinned size and digest"
    assert len({f.key for f in FILES}) == len(FILES)


@pytest.mark.parametrize("mode", weights.MODES)
def test_local_folder_resolves_every_file_of_the_mode(tmp_path, mode) -> None:
    _touch_tree(tmp_path)
    found = resolve(mode, tmp_path)
    assert set(found.paths) == {f.key for f in weights.files_for(mode)}
    folder = "liveportrait" if mode == "human" else "liveportrait_animals"
    assert found.network("warping_module") == tmp_path / folder / "base_models" / "warping_module.pth"
    assert not any(key.startswith("clip.") for key in found.paths)  # CLIP is fetched only on demand


def test_a_file_of_the_wrong_size_is_refused_naming_both_sizes(tmp_path) -> None:
    _touch_tree(tmp_path, manifest=False)  # one-byte files against the official manifest
    with pytest.raises(WeightMismatchError) as info:
        resolve("human", tmp_path)
    message = str(info.value)
    assert "liveportrait/base_models/appearance_feature_extractor.pth" in message
    assert "3,387,959 bytes" in message and "found 1 bytes" in message
    assert str(tmp_path) not in message  # no server path


def test_a_file_with_the_wrong_digest_is_refused_naming_both_digests(tmp_path) -> None:
    _touch_tree(tmp_path)
    target = tmp_path / "liveportrait/base_models/warping_module.pth"
    target.write_bytes(b"y")  # same size, other content
    with pytest.raises(WeightMismatchError) as info:
        resolve("human", tmp_path)
    assert "warping_module.pth" in str(info.value)
    assert hashlib.sha256(b"x").hexdigest() in str(info.value)
    assert hashlib.sha256(b"y").hexdigest() in str(info.value)
    assert resolve("human", tmp_path, verify=False).network("warping_module") == target  # sizes only


def test_digests_are_remembered_until_the_file_changes(tmp_path, monkeypatch) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    assert weights.file_sha256(path) == hashlib.sha256(b"abc").hexdigest()
    calls = []
    monkeypatch.setattr(hashlib, "sha256", lambda *a: calls.append(a) or hashlib.new("sha256", *a))
    weights.file_sha256(path)
    assert calls == []  # remembered
    path.write_bytes(b"abcd")
    assert weights.file_sha256(path) == hashlib.new("sha256", b"abcd").hexdigest() and calls


def test_joyvasa_linux_hubert_folder_name_is_accepted(tmp_path) -> None:
    _touch_tree(tmp_path, keys={f.key for f in FILES if f.key != "hubert_config"})
    alias = tmp_path / "TencentGameMate:chinese-hubert-base" / "config.json"
    alias.parent.mkdir()
    alias.write_text("{}")
    assert resolve("human", tmp_path)["hubert_config"] == alias


def test_prompt_embeddings_are_found_in_a_joyvasa_checkout(tmp_path) -> None:
    root = tmp_path / "JoyVASA" / "pretrained_weights"
    _touch_tree(root, keys={f.key for f in FILES if not f.key.startswith("xpose.embedding")})
    resources = tmp_path / "JoyVASA" / "src" / "utils" / "resources"
    resources.mkdir(parents=True)
    (resources / "clip_embedding_9.pkl").write_bytes(b"e" * 10923)
    with pytest.raises(WeightMismatchError, match=r"clip_embedding_9\.pkl"):  # found, and checked: not the official
        resolve("animal", root)
    stand_in = weights.Expected(10923, hashlib.sha256(b"e" * 10923).hexdigest())
    found = resolve("animal", root, expect={**weights.read_local_manifest(root), "xpose.embedding_9": stand_in})
    assert found["xpose.embedding_9"].resolve() == (resources / "clip_embedding_9.pkl").resolve()


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
    assert weights.WEIGHTS_ENV in message and "huggingface.co/KlingTeam/LivePortrait/blob/82a4fa6" in message
    assert str(tmp_path) not in message
    assert {f.key for f in info.value.missing} == {
        f.key for f in weights.files_for("animal") if f.required and f.key not in ("stitching", "motion_template")
    }


def test_offline_hub_cache_is_used_and_nothing_else(tmp_path, hub_cache) -> None:
    tree = tmp_path / "tree"
    _touch_tree(tree)
    with pytest.raises(MissingWeightsError, match=r"offline \(HF_HUB_OFFLINE=1\) and not in the local Hub cache"):
        resolve("human")
    install_in_hub_cache(tree, hub_cache)
    with pytest.raises(WeightMismatchError):  # one-byte stand-ins are not the pinned files
        resolve("human")
    found = resolve("human", expect=weights.read_local_manifest(tree))
    assert found["motion_generator"].name == "motion_generator_hubert_chinese.pt"
    assert str(hub_cache) in str(found["hubert_config"])
    assert all(s.present for s in weights.status() if "human" in s.file.modes and s.file.on_hub)


def _hub_error(kind: str) -> Exception:
    import httpx2
    from huggingface_hub import errors

    response = httpx2.Response(403 if kind == "gated" else 404, request=httpx2.Request("GET", "https://hf.co/x"))
    return {
        "gated": lambda: errors.GatedRepoError("gated", response=response),
        "repo": lambda: errors.RepositoryNotFoundError("no repo", response=response),
        "file": lambda: errors.RemoteEntryNotFoundError("no file", response=response),
        "network": lambda: ConnectionError("connection reset"),
    }[kind]()


@pytest.mark.parametrize(
    ("kind", "words"),
    [("gated", "gated repository"), ("repo", "repository not found"), ("file", "not in the repository"),
     ("network", "network error")],
)
def test_hub_failures_keep_their_cause(hub_cache, monkeypatch, kind, words) -> None:
    import huggingface_hub

    def fail(*args, **kwargs):
        raise _hub_error(kind)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fail)
    with pytest.raises(MissingWeightsError) as info:
        resolve("human", download=True)
    assert words in str(info.value)
    assert info.value.causes["motion_generator"] == weights.hub_failure(_hub_error(kind))


def test_the_hub_is_never_asked_for_a_file_it_does_not_hold(hub_cache, monkeypatch) -> None:
    import huggingface_hub

    asked = []

    def record(repo_id, filename, revision=None, **kwargs):
        asked.append(filename)
        raise _hub_error("network")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", record)
    with pytest.raises(MissingWeightsError):
        resolve("animal", download=True)
    held = {f.hub_path for f in FILES if f.on_hub and not f.on_demand}
    assert asked and set(asked) <= held
    assert not any("renderer_config" in name or "clip" in name for name in asked)


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        resolve("robot")
