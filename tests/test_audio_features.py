"""The official audio feature path: padding, HuBERT/wav2vec2 over submodules, resampling, golden f1."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from transformers import HubertConfig, Wav2Vec2Config

from model.audio.encoder import build_audio_encoder
from model.audio.features import encode_frames, extract_audio_features, pad_audio, trace_audio_features
from tests.golden import load_case
from tests.motion_fixtures import SMALL_ENCODER_FIELDS
from tests.motion_weights import recipe_motion_generator


def tiny_encoder(kind: str) -> nn.Module:
    torch.manual_seed(0)
    config = HubertConfig(**SMALL_ENCODER_FIELDS) if kind == "hubert" else Wav2Vec2Config(**SMALL_ENCODER_FIELDS)
    return build_audio_encoder(kind, config)


def reference_pad(x: np.ndarray, unit: int = 320, threshold: int = 80) -> np.ndarray:
    """Spec section 2.2 in numpy: two reflect pads of side // 2, then one edge sample if side is odd."""
    side = -(-(unit * (x.shape[-1] // unit) + threshold - x.shape[-1]) // 2)
    if side < 0:
        return x
    widths = [(0, 0), (side // 2, side // 2)]
    if side // 2:
        x = np.pad(np.pad(x, widths, mode="reflect"), widths, mode="reflect")
    return np.pad(x, [(0, 0), (1, 1)], mode="edge") if side % 2 else x


@pytest.mark.parametrize("length", [64000, 64001, 63999, 64100, 64239, 64240, 1000, 321])
def test_pad_audio_matches_the_spec(length):
    x = np.random.default_rng(length).standard_normal((2, length)).astype(np.float32)
    np.testing.assert_array_equal(pad_audio(torch.from_numpy(x)).numpy(), reference_pad(x))


def test_four_seconds_give_200_conv_frames():
    assert pad_audio(torch.zeros(1, 64000)).shape == (1, 64080)
    encoder = tiny_encoder("hubert")
    with torch.no_grad():
        assert encoder.feature_extractor(pad_audio(torch.zeros(1, 64000))).shape[-1] == 200


@pytest.mark.parametrize("kind", ["hubert", "wav2vec2"])
def test_encoder_path_equals_the_transformers_forward(kind):
    """With 200 conv frames and 2L = 200 the resampling is the identity: same as the stock forward."""
    encoder = tiny_encoder(kind)
    padded = pad_audio(torch.randn(2, 64000, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        conv, hidden = encode_frames(encoder, padded, 200)
        stock = encoder(padded).last_hidden_state
    torch.testing.assert_close(conv, encoder.feature_extractor(padded), rtol=0, atol=0)
    torch.testing.assert_close(hidden, stock, rtol=1e-6, atol=1e-6)


def test_back_resampling_is_the_mean_of_frame_pairs():
    encoder, feature_map = tiny_encoder("hubert"), nn.Linear(32, 8)
    with torch.no_grad():
        trace = trace_audio_features(encoder, feature_map, torch.randn(3, 64000), 100)
        pairs = 0.5 * (trace.hidden_states[:, 0::2] + trace.hidden_states[:, 1::2])
        torch.testing.assert_close(trace.audio_feat, feature_map(pairs), rtol=1e-5, atol=1e-6)
    assert trace.audio_feat.shape == (3, 100, 8) and trace.hidden_states.shape == (3, 200, 32)


def test_other_lengths_are_resampled_to_the_requested_frames():
    encoder, feature_map = tiny_encoder("wav2vec2"), nn.Linear(32, 8)
    with torch.no_grad():
        feats = extract_audio_features(encoder, feature_map, torch.randn(1, 24000), 100)
    assert feats.shape == (1, 100, 8) and torch.isfinite(feats).all()


def test_training_mode_masks_time_steps_as_officially():
    torch.manual_seed(0)
    quiet = dict(SMALL_ENCODER_FIELDS, hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
                 feat_proj_dropout=0.0, layerdrop=0.0)
    encoder = build_audio_encoder("hubert", HubertConfig(**quiet, mask_time_prob=0.5))
    encoder.config.mask_time_prob = 0.0
    feature_map, audio = nn.Linear(32, 8), torch.randn(1, 64000)
    evaluated = extract_audio_features(encoder, feature_map, audio, 100)
    # Without dropout and masking, training mode computes the same thing (and keeps the graph for gradients).
    trained = extract_audio_features(encoder.train(), feature_map, audio, 100)
    torch.testing.assert_close(trained, evaluated)
    assert trained.requires_grad
    encoder.config.mask_time_prob = 0.5  # SpecAugment: some time steps become the learned mask embedding
    with torch.no_grad():
        encoder.masked_spec_embed.fill_(3.0)

    assert not torch.allclose(extract_audio_features(encoder, feature_map, audio, 100), evaluated)


@pytest.mark.golden
@pytest.mark.slow
def test_golden_f1_audio_feature():
    case = load_case("f1_audio_feature.npz")
    model = recipe_motion_generator(case.manifest(), case.weights_seed)
    audio = torch.from_numpy(case["audio"])
    with torch.no_grad():
        trace = trace_audio_features(model.audio_encoder, model.audio_feature_map, audio, case["audio_feat"].shape[1])
    case.assert_close("audio_padded", trace.padded_audio)
    case.assert_close("conv_features", trace.conv_features)
    case.assert_close("last_hidden_state", trace.hidden_states)
    case.assert_close("audio_feat", trace.audio_feat)
