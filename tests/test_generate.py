"""Stage 1 end to end (``generate_motion``): smoothing switch, frame count, golden f4."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from model.motion.generate import generate_motion
from model.motion.noise import ExplicitNoise
from model.motion.sampler import SamplerConfig
from model.motion.sequence import decode_motion, smooth_motion
from model.motion.template import MotionTemplate
from model.testweights.recipe import noise as recipe_noise
from tests.golden import load_case
from tests.motion_fixtures import assert_sequence_matches, golden_template, template_stats, tiny_generator
from tests.motion_weights import positional_encoding_of, recipe_motion_generator


def test_generate_motion_smooths_by_default_and_can_skip_it():
    generator = tiny_generator(motion_feat_dim=70)
    template = MotionTemplate.from_stats(template_stats())
    audio = 0.2 * np.sin(np.arange(30000, dtype=np.float32) / 40.0)
    config = SamplerConfig(kind="ddim", num_steps=3, seed=1)
    smooth = generate_motion(generator, template, audio, config)
    raw = generate_motion(generator, template, audio, config, smooth=False)
    assert len(raw) == len(smooth) == int((30000 + 1920) / 16000 * 25)
    assert raw.fps == smooth.fps == generator.config.fps
    np.testing.assert_array_equal(smooth.exp, raw.exp)
    np.testing.assert_array_equal(smooth_motion(raw).yaw, smooth.yaw)
    assert not np.array_equal(smooth.yaw, raw.yaw)


def _noise_recipe(meta: dict) -> tuple[int, int]:
    """(base S, per-window stride) of ``z = noise(S + stride * w + t)`` as the meta states it."""
    match = re.search(r"(\d+)\s*\+\s*(\d+)\s*\*\s*w\s*\+\s*t", meta["inputs"]["noise"])
    assert match, f"noise recipe not understood: {meta['inputs']['noise']}"
    assert int(match[1]) == int(meta["noise_base_S"])
    return int(match[1]), int(match[2])


@pytest.mark.golden
@pytest.mark.slow
def test_golden_f4_motion_sequence(tmp_path):
    case = load_case("f4_motion_sequence.npz")
    generator = recipe_motion_generator(case.manifest(), case.weights_seed, positional_encoding_of(case.meta))
    template = golden_template(case, tmp_path)
    base, stride = _noise_recipe(case.meta)
    shape = case["motion_at_T"].shape
    noise = ExplicitNoise(torch.from_numpy(recipe_noise(shape, base)),
                          lambda window, t: torch.from_numpy(recipe_noise(shape, base + stride * window + t)))
    case.assert_close("motion_at_T", noise.x_T, rtol=0, atol=0)
    cfg_scale = float(re.search(r"cfg_scale=([0-9.]+)", case.meta["call"])[1])
    smooth = "is_smooth_motion=True" in case.meta["call"]

    windows = []
    seq = generate_motion(generator, template, case["audio"], SamplerConfig(cfg_scale=cfg_scale), smooth=smooth,
                          noise=noise, progress=windows.append)

    assert len(windows) == case.meta["n_windows"] and len(seq) == case.meta["n_frames"]
    for window in windows:
        case.assert_close(f"window{window.index}_motion", window.motion[None], rtol=1e-4, atol=1e-4)
        case.assert_close(f"window{window.index}_audio_feat", window.audio_feat[None])
    coef = torch.cat([w.kept_motion for w in windows])
    case.assert_close("coef", coef, rtol=1e-4, atol=1e-4)
    assert_sequence_matches(case, "raw", decode_motion(coef, template, fps=generator.config.fps))
    assert_sequence_matches(case, "smooth" if smooth else "raw", seq)
