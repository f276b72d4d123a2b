"""Official-format motion generator checkpoints: safe strict loading, saving, weight-norm names."""

from __future__ import annotations

import argparse
import os
import pathlib
from pathlib import Path

import pytest
import torch
from transformers import HubertConfig, Wav2Vec2Config

from model.audio.features import trace_audio_features
from model.checkpoint import MOTION_GENERATOR_GLOBALS, CheckpointError, read_checkpoint
from model.motion.checkpoint import (
    COMPUTED_KEYS,
    STEP_TABLE_KEY,
    WEIGHT_NORM_RENAMES,
    computed_state,
    load_motion_generator,
    save_motion_generator,
)
from model.motion.generator import MotionGenerator, MotionGeneratorConfig
from model.testweights.fill import recipe_state_dict
from tests.golden import load_manifest
from tests.helpers import assert_matches_manifest
from tests.motion_fixtures import SMALL_ENCODER_FIELDS

TINY_ARGS = {
    "motion_feat_dim": 5,
    "n_motions": 6,
    "n_prev_motions": 2,
    "feature_dim": 32,
    "audio_model": "hubert_zh",
    "n_diff_steps": 10,
    "fps": 25,
    "pad_mode": "zero",
    "use_indicator": True,
    "n_layers": 6,  # stored by training scripts, never used by the official loader
}
LEGACY_G, LEGACY_V = WEIGHT_NORM_RENAMES


def encoder_config_file(folder: Path, audio_model: str) -> Path:
    config_cls = HubertConfig if audio_model.startswith("hubert") else Wav2Vec2Config
    config = config_cls(**SMALL_ENCODER_FIELDS)
    config.to_json_file(str(folder / "config.json"))
    return folder / "config.json"


def tiny_checkpoint(folder: Path, seed: int = 0, audio_model: str = "hubert_zh", **save_options) -> Path:
    """A recipe-filled tiny generator saved in the official format; its encoder config.json beside it."""
    args = {**TINY_ARGS, "audio_model": audio_model}
    config_path = encoder_config_file(folder, audio_model)
    encoder_config = (HubertConfig if audio_model.startswith("hubert") else Wav2Vec2Config).from_json_file(config_path)
    with torch.device("meta"):
        skeleton = MotionGenerator(MotionGeneratorConfig.from_args(args), encoder_config)
    state = recipe_state_dict(skeleton, seed, computed=COMPUTED_KEYS)
    return save_motion_generator(state, args, folder / f"tiny_{seed}.pt", iteration=20000, **save_options)


def rewrite(path: Path, edit) -> Path:
    """Load a checkpoint, apply ``edit(ckpt)`` in place, save it again (as other code might have)."""
    ckpt = read_checkpoint(path, MOTION_GENERATOR_GLOBALS)
    edit(ckpt)
    torch.save(ckpt, path)
    return path


def run(model: MotionGenerator) -> tuple[torch.Tensor, torch.Tensor]:
    """Audio features of a fixed waveform and a denoiser output on them."""
    g = torch.Generator().manual_seed(3)
    cfg = model.config
    with torch.no_grad():
        feats = model.extract_audio_feature(torch.randn(2, 64000 * cfg.n_motions // 100, generator=g))
        out = model.denoising_net(
            torch.randn(2, cfg.n_motions, cfg.motion_feat_dim, generator=g),
            feats,
            model.start_motion_feat.expand(2, -1, -1),
            model.start_audio_feat.expand(2, -1, -1),
            torch.tensor([1, cfg.n_diff_steps]),
        )
    return feats, out


def test_roundtrip_keeps_every_tensor(tmp_path):
    path = tiny_checkpoint(tmp_path)
    model = load_motion_generator(path, hubert_config_path=tmp_path)
    assert not model.training and model.denoising_net.positional_encoding == "legacy"
    assert model.config == MotionGeneratorConfig.from_args(TINY_ARGS)
    assert len(model.denoising_net.transformer.layers) == 8  # the class default, not args.n_layers
    stored = read_checkpoint(path, MOTION_GENERATOR_GLOBALS)["model"]
    ours = model.state_dict()
    renamed = {WEIGHT_NORM_RENAMES.get(k, k): v for k, v in stored.items()}
    assert set(renamed) == set(ours)
    for key, value in renamed.items():
        assert torch.equal(ours[key], value), key
    for key, value in computed_state(model.config).items():
        assert torch.equal(ours[key], value), key


def test_file_has_the_official_layout(tmp_path):
    ckpt = read_checkpoint(tiny_checkpoint(tmp_path), MOTION_GENERATOR_GLOBALS)
    assert set(ckpt) == {"args", "model", "iter"} and ckpt["iter"] == 20000
    assert isinstance(ckpt["args"], argparse.Namespace)
    assert isinstance(ckpt["args"].data_root, pathlib.PurePosixPath)
    assert ckpt["args"].n_layers == 6
    assert STEP_TABLE_KEY in ckpt["model"] and ckpt["model"][STEP_TABLE_KEY].shape == (1, 501, 32)
    assert LEGACY_G in ckpt["model"] and LEGACY_V in ckpt["model"]
    assert WEIGHT_NORM_RENAMES[LEGACY_G] not in ckpt["model"]


def test_both_weight_norm_namings_load_to_equal_outputs(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    old = load_motion_generator(tiny_checkpoint(tmp_path / "old"), tmp_path / "old" / "config.json")
    new_path = tiny_checkpoint(tmp_path / "new", legacy_weight_norm_names=False)
    assert WEIGHT_NORM_RENAMES[LEGACY_G] in read_checkpoint(new_path, MOTION_GENERATOR_GLOBALS)["model"]
    new = load_motion_generator(new_path, tmp_path / "new")
    for a, b in zip(run(old), run(new), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_extract_audio_feature_is_the_feature_path(tmp_path):
    model = load_motion_generator(tiny_checkpoint(tmp_path), tmp_path)
    audio = torch.randn(2, 64000 * 6 // 100)
    with torch.no_grad():
        trace = trace_audio_features(model.audio_encoder, model.audio_feature_map, audio, 6)
        torch.testing.assert_close(model.extract_audio_feature(audio), trace.audio_feat, rtol=0, atol=0)
    assert trace.audio_feat.shape == (2, 6, 32)


def test_wav2vec2_checkpoint(tmp_path):
    model = load_motion_generator(tiny_checkpoint(tmp_path, audio_model="wav2vec2"), tmp_path, pe="fixed")
    assert type(model.audio_encoder).__name__ == "Wav2Vec2Model"
    assert model.denoising_net.positional_encoding == "fixed"
    feats, out = run(model)
    assert feats.shape == (2, 6, 32) and out.shape == (2, 8, 5) and torch.isfinite(out).all()


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"args": _Exploit(marker), "model": {}, "iter": 0}, path)
    with pytest.raises(CheckpointError, match="refused to unpickle"):
        load_motion_generator(path)
    assert not marker.exists()


def test_missing_step_table(tmp_path):
    path = rewrite(tiny_checkpoint(tmp_path), lambda c: c["model"].pop(STEP_TABLE_KEY))
    with pytest.raises(CheckpointError, match=r"denoising_net\.TE\.pe"):
        load_motion_generator(path, tmp_path)


def test_misshaped_key_names_key_and_shapes(tmp_path):
    key = "denoising_net.feature_proj.weight"
    path = rewrite(tiny_checkpoint(tmp_path), lambda c: c["model"].__setitem__(key, torch.zeros(32, 6)))
    with pytest.raises(CheckpointError, match=rf"{key}: expected \(32, 5\), found \(32, 6\)"):
        load_motion_generator(path, tmp_path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["model"].pop("audio_feature_map.bias"), "missing keys.*audio_feature_map.bias"),
        (lambda c: c["model"].__setitem__("denoising_net.extra", torch.zeros(1)), "unexpected keys.*extra"),
        (lambda c: c["model"].__setitem__(WEIGHT_NORM_RENAMES[LEGACY_G], c["model"][LEGACY_G]), "both"),
        (lambda c: c["model"].__setitem__("denoising_net.alignment_mask", torch.zeros(8, 8)), "dtype"),
        (lambda c: delattr(c["args"], "feature_dim"), "feature_dim"),
        (lambda c: c.pop("args"), "expected a dict with 'args' and 'model'"),
    ],
    ids=["missing", "unexpected", "both-weight-norm-names", "float-mask", "args-field", "no-args"],
)
def test_malformed_checkpoints(tmp_path, edit, message):
    path = rewrite(tiny_checkpoint(tmp_path), edit)
    with pytest.raises(CheckpointError, match=message):
        load_motion_generator(path, tmp_path)


def test_args_as_a_plain_dict(tmp_path):
    path = rewrite(tiny_checkpoint(tmp_path), lambda c: c.__setitem__("args", dict(vars(c["args"]))))
    assert load_motion_generator(path, tmp_path).config.n_motions == 6


def test_config_rejects_bad_args():
    with pytest.raises(ValueError, match="audio_model"):
        MotionGeneratorConfig.from_args({**TINY_ARGS, "audio_model": "whisper"})
    with pytest.raises(ValueError, match="pad_mode"):
        MotionGeneratorConfig.from_args({**TINY_ARGS, "pad_mode": "mirror"})
    assert MotionGeneratorConfig.from_args({k: v for k, v in TINY_ARGS.items() if k != "fps"}).fps == 25


def test_full_size_keys_match_the_official_manifest():
    manifest = load_manifest("motion_generator.json")
    with torch.device("meta"):
        model = MotionGenerator(MotionGeneratorConfig.from_args(manifest["args"]))
    assert_matches_manifest(model, manifest)
    assert set(COMPUTED_KEYS) == set(manifest["computed_entries"])
    params = sum(p.numel() for p in model.parameters())
    assert params == manifest["param_count"]
