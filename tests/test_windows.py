"""The official long-audio window scheme: frame counts, window audio, context chaining, shared x_T."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import model.motion.windows as windows
from model.motion.sampler import SamplerConfig
from model.motion.windows import WindowPlan, as_waveform, iter_windows, sample_motion
from tests.motion_fixtures import tiny_generator

SR = 16000


def official_frames(n_samples: int, fps: int = 25) -> int:
    """``clip_len`` of the silence-padded audio: whole frames of 640 samples (golden f4: 144000 -> 228)."""
    return (n_samples + 1280 + 640) // round(SR / fps)


def official_padded(audio: np.ndarray, n_motions: int = 100, fps: int = 25) -> tuple[np.ndarray, int]:
    """The official padded waveform (silence, then zero tail padding to whole windows) and the window count."""
    padded = np.concatenate([np.zeros(1280, np.float32), audio, np.zeros(640, np.float32)])
    clip_len = official_frames(len(audio), fps)
    n_windows = 1 if clip_len <= n_motions else math.ceil(clip_len / n_motions)
    window = round(SR / fps * n_motions)
    tail = window * n_windows - len(padded)
    if tail > 0:
        padded = np.concatenate([padded, np.full(tail, padded[-1], np.float32)])
    return padded, n_windows


LENGTHS = [1, 640, 16000, 16640, 62079, 62080, 62081, 62720, 64000, 64640, 100000, 126080, 128000, 144000, 960000]


@pytest.mark.parametrize("n_samples", LENGTHS)
def test_frame_and_window_counts(n_samples):
    plan = WindowPlan(n_samples, n_motions=100, fps=25)
    assert plan.n_frames == official_frames(n_samples)
    _, n_windows = official_padded(np.zeros(n_samples, np.float32))
    assert plan.n_windows == n_windows
    kept = [plan.frames_kept(i) for i in range(plan.n_windows)]
    assert sum(kept) == plan.n_frames
    assert all(k == 100 for k in kept[:-1]) and 1 <= kept[-1] <= 100


def test_known_frame_counts():
    assert WindowPlan(62080, 100, 25).n_frames == 100, "(62080 + 1920) / 640 = exactly one window"
    assert WindowPlan(62080, 100, 25).n_windows == 1
    assert WindowPlan(62081, 100, 25).n_windows == 1
    assert WindowPlan(62720, 100, 25).n_windows == 2, "101 frames need a second window"
    assert WindowPlan(60 * SR, 100, 25).n_frames == 1503 and WindowPlan(60 * SR, 100, 25).n_windows == 16
    # Lengths where N' / 16000 * 25 in floating point falls just below a whole number (227.99999...).
    for n_padded in (18560, 145920, 961920):
        assert WindowPlan(n_padded - 1920, 100, 25).n_frames == n_padded // 640


@pytest.mark.parametrize("n_samples", [300, 62080, 62500, 64600, 130000])
def test_window_audio_matches_the_official_padding(n_samples):
    audio = np.random.default_rng(n_samples).uniform(-0.5, 0.5, n_samples).astype(np.float32)
    padded, n_windows = official_padded(audio)
    plan = WindowPlan(n_samples, 100, 25)
    assert plan.n_windows == n_windows
    tensor = torch.from_numpy(audio)
    for i in range(n_windows):
        start, stop = plan.bounds(i)
        assert (start, stop) == (64000 * i, 64000 * (i + 1))
        np.testing.assert_array_equal(plan.window_audio(tensor, i).numpy(), padded[start:stop])


def test_context_chaining_and_shared_initial_state(monkeypatch):
    generator = tiny_generator()
    calls = []
    counter = iter(range(1000))

    def fake_sample_window(gen, audio_feat, prev_motion, prev_audio_feat, x_T, config, noise, window=0, on_step=None):
        calls.append({"audio_feat": audio_feat, "prev_motion": prev_motion, "prev_audio_feat": prev_audio_feat,
                      "x_T": x_T, "window": window})
        return torch.full_like(x_T, float(next(counter))) + torch.arange(x_T.shape[1])[None, :, None]

    monkeypatch.setattr(windows, "sample_window", fake_sample_window)
    audio = torch.linspace(-0.5, 0.5, 20000)  # (20000 + 1920) / 640 -> 34 frames, 6 windows of 6
    out = list(iter_windows(generator, audio, SamplerConfig(seed=0)))
    assert [w.index for w in out] == list(range(6)) and all(w.n_windows == 6 for w in out)
    assert [c["window"] for c in calls] == list(range(6))
    torch.testing.assert_close(calls[0]["prev_motion"], generator.start_motion_feat, rtol=0, atol=0)
    torch.testing.assert_close(calls[0]["prev_audio_feat"], generator.start_audio_feat, rtol=0, atol=0)
    for i in range(1, 6):
        assert calls[i]["x_T"] is calls[0]["x_T"], "every window starts from window 0's x_T"
        torch.testing.assert_close(calls[i]["prev_motion"], out[i - 1].motion[None, -2:], rtol=0, atol=0)
        torch.testing.assert_close(calls[i]["prev_audio_feat"], out[i - 1].audio_feat[None, -2:], rtol=0, atol=0)
        torch.testing.assert_close(calls[i]["audio_feat"][0], out[i].audio_feat, rtol=0, atol=0)
    assert [w.n_frames_kept for w in out] == [6, 6, 6, 6, 6, 4]
    plan = WindowPlan(len(audio), 6, 25)
    with torch.inference_mode():
        wave = plan.window_audio(audio, 2)[None]
        torch.testing.assert_close(out[2].audio_feat, generator.extract_audio_feature(wave)[0])


def test_long_audio_gives_the_official_frame_count_window_by_window(monkeypatch):
    """60 s of audio: 1503 frames in 16 windows of the official 100 frames; HuBERT sees one 4 s window at a time."""
    generator = tiny_generator(n_motions=100)
    seen = []
    extract = generator.extract_audio_feature

    def spy(audio):
        seen.append(tuple(audio.shape))
        return extract(audio)

    monkeypatch.setattr(generator, "extract_audio_feature", spy)
    audio = 0.1 * torch.sin(torch.arange(60 * SR) / 50.0)
    done = []
    coef = sample_motion(generator, audio, SamplerConfig(kind="ddim", num_steps=2, seed=0),
                         progress=lambda w: done.append((w.index, w.n_windows)))
    plan = WindowPlan(len(audio), 100, 25)
    assert coef.shape == (official_frames(len(audio)), 5) == (1503, 5)
    assert seen == [(1, 64000)] * plan.n_windows == [(1, 64000)] * 16
    assert done == [(i, plan.n_windows) for i in range(plan.n_windows)]


def test_seeded_runs_repeat():
    generator = tiny_generator()
    audio = torch.linspace(-0.3, 0.3, 9000)
    config = SamplerConfig(kind="dpmsolver++", num_steps=4, seed=9)
    torch.testing.assert_close(sample_motion(generator, audio, config), sample_motion(generator, audio, config),
                               rtol=0, atol=0)


def test_bad_audio_and_modes_are_refused():
    with pytest.raises(ValueError, match="non-empty"):
        as_waveform(np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="shape"):
        as_waveform(np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError, match="float"):
        as_waveform(np.zeros(100, np.int16))
    with pytest.raises(ValueError, match="NaN"):
        as_waveform(np.array([0.0, np.nan], np.float32))
    generator = tiny_generator()
    generator.train()
    try:
        with pytest.raises(ValueError, match="eval"):
            next(iter_windows(generator, np.zeros(100, np.float32), SamplerConfig()))
    finally:
        generator.eval()
