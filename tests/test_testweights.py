"""make-test-weights: the official layout and formats, read back by the production loaders."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from model.checkpoint import MOTION_GENERATOR_GLOBALS, CheckpointError, read_checkpoint
from model.render.loading import load_network, load_renderer
from model.render.spade import SPADEDecoder
from model.weights import WeightMismatchError, read_local_manifest, resolve
from tests.golden import FIXTURE_DIR, golden_dir, load_case
from tests.helpers import install_in_hub_cache


def _module_sha(named: dict[str, np.ndarray], order: list[str]) -> str:
    digest = hashlib.sha256()
    for key in order:
        value = np.ascontiguousarray(named[key])
        digest.update(key.encode())
        digest.update(value.astype(value.dtype.newbyteorder("<")).tobytes())
    return digest.hexdigest()


def _checksums() -> dict:
    for base in (golden_dir(), FIXTURE_DIR):
        if (base / "recipe_checksums.json").is_file():
            return json.loads((base / "recipe_checksums.json").read_text())
    pytest.skip("no recipe_checksums.json")


def test_small_tree_via_cli_loads_through_production_loaders(small_weights: Path) -> None:
    for mode in ("human", "animal"):
        paths = resolve(mode, small_weights)
        nets = load_renderer(paths)
        assert nets.config.spade.block_expansion == 8  # sizes come from renderer_config.json
        image = torch.rand(2, 3, 256, 256)
        with torch.inference_mode():
            feature = nets.appearance(image)
            kp = 0.3 * torch.randn(2, 21, 3)
            frame = nets.spade(nets.warping(feature, kp_source=kp, kp_driving=kp + 0.01)["out"])
        assert frame.shape[:2] == (2, 3) and torch.isfinite(frame).all()
    stitching = read_checkpoint(small_weights / "liveportrait/retargeting_models/stitching_retargeting_module.pth")
    assert set(stitching) == {"retarget_shoulder", "retarget_mouth", "retarget_eye"}
    assert all(k.startswith("module.mlp.") for k in stitching["retarget_eye"])


def test_tree_in_an_offline_hub_cache_loads_end_to_end(small_weights: Path, hub_cache: Path) -> None:
    from model.motion.checkpoint import load_motion_generator
    from model.motion.template import load_motion_template

    install_in_hub_cache(small_weights, hub_cache)
    with pytest.raises(WeightMismatchError, match="expected a size of"):  # the recipe tree is not the release
        resolve("human")
    paths = resolve("human", expect=read_local_manifest(small_weights))
    assert str(hub_cache) in str(paths.network("spade_generator"))
    assert paths.renderer_config is None  # a test-tree file: never asked of the Hub; given here from the tree
    config = small_weights / "liveportrait/renderer_config.json"
    paths = dataclasses.replace(paths, paths={**paths.paths, "human.renderer_config": config})
    assert load_renderer(paths).config == load_renderer(resolve("human", small_weights)).config
    generator = load_motion_generator(paths["motion_generator"], paths["hubert_config"])
    assert generator.config.feature_dim == 32
    load_motion_template(paths["motion_template"])


def test_motion_generator_file_has_the_official_pickle_layout(small_weights: Path) -> None:
    path = small_weights / "JoyVASA/motion_generator/motion_generator_hubert_chinese.pt"
    with zipfile.ZipFile(path) as archive:
        pickled = next(archive.read(n) for n in archive.namelist() if n.endswith("data.pkl"))
    assert b"argparse" in pickled and b"Namespace" in pickled and b"PosixPath" in pickled
    with pytest.raises(pickle.UnpicklingError):  # plain weights_only without the allow-list refuses it
        torch.load(path, weights_only=True)
    keys = read_checkpoint(path, MOTION_GENERATOR_GLOBALS)["model"]
    assert "denoising_net.TE.pe" in keys
    assert any(k.endswith("pos_conv_embed.conv.weight_g") for k in keys)
    template = (small_weights / "JoyVASA/motion_template/motion_template.pkl").read_bytes()
    assert b"numpy.core.multiarray" in template and b"_reconstruct" in template


def test_corrupted_and_mis_shaped_checkpoints_are_refused(small_weights: Path, tmp_path: Path) -> None:
    from model.render.config import RendererConfig

    config = RendererConfig.load(small_weights / "liveportrait")
    good = small_weights / "liveportrait/base_models/spade_generator.pth"
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_network(SPADEDecoder(config.spade), truncated)
    state = torch.load(good, weights_only=True)
    state["fc.weight"] = state["fc.weight"][:, :3]
    del state["conv_img.0.bias"]
    state["extra.weight"] = torch.zeros(1)
    broken = tmp_path / "broken.pth"
    torch.save(state, broken)
    with pytest.raises(CheckpointError) as info:
        load_network(SPADEDecoder(config.spade), broken)
    message = str(info.value)
    assert "fc.weight: expected (64, 32, 3, 3), found (64, 3, 3, 3)" in message
    assert "missing keys (1): conv_img.0.bias" in message and "unexpected keys (1): extra.weight" in message
    with pytest.raises(CheckpointError, match="not found"):
        load_network(SPADEDecoder(config.spade), tmp_path / "absent.pth")


def test_malicious_pickle_is_refused(tmp_path: Path) -> None:
    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(1), "payload": Exploit()}, path)
    with pytest.raises(CheckpointError, match="refused to unpickle"):
        read_checkpoint(path)


@pytest.mark.golden
@pytest.mark.slow
def test_full_tree_reproduces_recipe_checksums_and_golden_outputs(full_weights) -> None:
    """Full-size .pth files from make-test-weights, loaded strictly by the production loader."""
    ref = _checksums()
    a = load_case("a_appearance_feature_extractor.npz")
    c = load_case("c_warping_module.npz")
    d = load_case("d_spade_generator.npz")
    nets = load_renderer(resolve("human", full_weights(a.weights_seed)))
    for name, net in nets.modules().items():
        if ref["seed"] != a.weights_seed:
            break
        if name == "stitching_retargeting_module":
            named = {f"{sub}.{k.removeprefix('module.')}": v.numpy() for sub, sd in net.checkpoint_dict().items()
                     for k, v in sd.items()}
        else:
            named = {k: v.numpy() for k, v in net.state_dict().items()}
        manifest = json.loads((FIXTURE_DIR / "manifests" / f"{name}.json").read_text())
        assert _module_sha(named, list(manifest["entries"])) == ref["modules"][name]["module_sha256"], name

    assert c.weights_seed == d.weights_seed == a.weights_seed
    image = torch.from_numpy(a["image_u8"]).permute(0, 3, 1, 2).float() / 255
    with torch.inference_mode():
        a.assert_close("feature_3d", nets.appearance(image))
        out = nets.warping(torch.from_numpy(a["feature_3d"]), kp_source=torch.from_numpy(c["kp_source"]),
                           kp_driving=torch.from_numpy(c["kp_driving"]))
        c.assert_close("out", out["out"])
        d.assert_close("out", nets.spade(torch.from_numpy(c["out"])), rtol=0, atol=1e-4)
