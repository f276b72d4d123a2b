"""The official long-audio scheme (spec §2.1, §3.2): fixed windows sampled one after another.

The waveform gets 1280 zero samples in front and 640 behind; N' samples yield
``clip_len = floor(N' * fps / 16000)`` frames (= floor(N' / 640) at 25 fps; computed in integers,
since ``N' / 16000 * 25`` in floating point falls just short of whole numbers, e.g. 227.99999 for
N' = 145920, where the official output has 228 frames). Windows of L frames (64000 samples at 25 fps)
do not overlap; the last one is zero-padded and its padded frames dropped. Window 0's context is
the learned start tokens; window i > 0 gets the last P generated frames and the last P conditional
audio features of window i - 1. Every window starts from the same x_T.

Windows are produced lazily, so memory holds one window's audio and features at a time besides
the output, and a consumer (e.g. a renderer) can work on window i while window i + 1 samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from model.motion.generator import MotionGenerator
from model.motion.noise import NoiseSource, SeededNoise
from model.motion.sampler import SamplerConfig, StepCallback, sample_window

SAMPLE_RATE = 16000
#: Zero samples the official wrapper puts before (2 frames) and after (1 frame) the audio.
LEAD_SILENCE = 1280
TAIL_SILENCE = 640


@dataclass(frozen=True)
class WindowPlan:
    """Frame and sample arithmetic for ``n_samples`` of 16 kHz audio, windows of ``n_motions`` frames at ``fps``.

    Sample positions are in the silence-padded signal (original sample k is at k + 1280).
    The official tail padding repeats the padded signal's last sample for ``pad_mode='replicate'``;
    that sample is always one of the 640 appended zeros, so both pad modes pad with zeros.
    """

    n_samples: int
    n_motions: int
    fps: int

    @property
    def n_frames(self) -> int:
        """Output frames, ``floor(N' * fps / 16000)`` with N' = n_samples + 1920."""
        return (self.n_samples + LEAD_SILENCE + TAIL_SILENCE) * self.fps // SAMPLE_RATE

    @property
    def n_windows(self) -> int:
        return 1 if self.n_frames <= self.n_motions else math.ceil(self.n_frames / self.n_motions)

    def bounds(self, window: int) -> tuple[int, int]:
        """[start, stop) of window ``window`` in padded samples."""
        samples_per_frame = SAMPLE_RATE / self.fps
        return (round(window * self.n_motions * samples_per_frame),
                round((window + 1) * self.n_motions * samples_per_frame))

    def frames_kept(self, window: int) -> int:
        """Frames of window ``window`` that belong to the output (the last window drops its padding)."""
        return min(self.n_motions, self.n_frames - window * self.n_motions)

    def window_audio(self, audio: torch.Tensor, window: int) -> torch.Tensor:
        """Window ``window`` of the padded signal, (stop - start,) float32, from the unpadded ``audio`` (N,)."""
        start, stop = self.bounds(window)
        out = torch.zeros(stop - start, dtype=torch.float32)
        lo, hi = max(start - LEAD_SILENCE, 0), min(stop - LEAD_SILENCE, self.n_samples)
        if hi > lo:
            offset = lo + LEAD_SILENCE - start
            out[offset : offset + hi - lo] = audio[lo:hi]
        return out


@dataclass(frozen=True)
class SampledWindow:
    """One sampled window: ``motion`` (L, m) normalised and ``audio_feat`` (L, d), on the generator's device.

    Only the first ``n_frames_kept`` frames belong to the output.
    """

    index: int
    n_windows: int
    motion: torch.Tensor
    audio_feat: torch.Tensor
    n_frames_kept: int

    @property
    def kept_motion(self) -> torch.Tensor:
        return self.motion[: self.n_frames_kept]


def as_waveform(audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Check and convert 16 kHz mono audio (N,) to a float32 CPU tensor."""
    audio = torch.as_tensor(audio).detach()
    if audio.ndim != 1 or audio.numel() == 0:
        raise ValueError(f"expected a non-empty 16 kHz mono waveform of shape (N,), got shape {tuple(audio.shape)}")
    if not audio.is_floating_point():
        raise ValueError(f"expected float samples in [-1, 1], got dtype {audio.dtype}")
    audio = audio.to("cpu", torch.float32)
    if not torch.isfinite(audio).all():
        raise ValueError("the waveform contains NaN or infinite samples")
    return audio


def _window_feature(generator: MotionGenerator, plan: WindowPlan, audio: torch.Tensor, index: int) -> torch.Tensor:
    """Audio features (1, L, d) of window ``index``: HuBERT on its 4 s of padded audio."""
    return generator.extract_audio_feature(plan.window_audio(audio, index).to(generator.null_audio_feat.device)[None])


def audio_features(generator: MotionGenerator, audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Audio features of every window of ``audio`` (N,) 16 kHz: (n_windows, L, d) on the generator's device.

    HuBERT runs once per window, as in the official code; the result can be cached and passed to
    :func:`iter_windows`, since it depends only on the audio and the encoder.
    """
    audio = as_waveform(audio)
    plan = WindowPlan(len(audio), generator.config.n_motions, generator.config.fps)
    with torch.inference_mode():
        return torch.cat([_window_feature(generator, plan, audio, i) for i in range(plan.n_windows)])


def iter_windows(
    generator: MotionGenerator,
    audio: np.ndarray | torch.Tensor,
    config: SamplerConfig,
    noise: NoiseSource | None = None,
    features: torch.Tensor | None = None,
    on_step: StepCallback | None = None,
) -> Iterator[SampledWindow]:
    """Sample the windows of ``audio`` (N,) 16 kHz one by one.

    ``noise`` defaults to a generator seeded with ``config.seed`` on the generator's device.
    ``features``: precomputed :func:`audio_features` (n_windows, L, d); computed window by window when None.
    ``on_step``: called after every sampler step (an exception raised there stops the sampling).
    """
    if generator.training:
        raise ValueError("the motion generator is in training mode; call .eval() before sampling")
    audio = as_waveform(audio)
    cfg = generator.config
    plan = WindowPlan(len(audio), cfg.n_motions, cfg.fps)
    if features is not None and tuple(features.shape[:2]) != (plan.n_windows, cfg.n_motions):
        raise ValueError(
            f"precomputed audio features {tuple(features.shape)} do not fit {plan.n_windows} windows of {cfg.n_motions}"
        )
    device = generator.null_audio_feat.device
    noise = SeededNoise(config.seed, device) if noise is None else noise
    with torch.inference_mode():
        x_T = noise.initial((1, cfg.n_motions, cfg.motion_feat_dim), device)
        prev_motion, prev_audio_feat = generator.start_motion_feat, generator.start_audio_feat
    for index in range(plan.n_windows):
        with torch.inference_mode():
            if features is None:
                audio_feat = _window_feature(generator, plan, audio, index)
            else:
                audio_feat = features[index : index + 1].to(device)
            motion = sample_window(
                generator, audio_feat, prev_motion, prev_audio_feat, x_T, config, noise, window=index, on_step=on_step
            )
            prev_motion = motion[:, -cfg.n_prev_motions :]
            prev_audio_feat = audio_feat[:, -cfg.n_prev_motions :]
        yield SampledWindow(index, plan.n_windows, motion[0], audio_feat[0], plan.frames_kept(index))


def sample_motion(
    generator: MotionGenerator,
    audio: np.ndarray | torch.Tensor,
    config: SamplerConfig,
    noise: NoiseSource | None = None,
    progress: Callable[[SampledWindow], None] | None = None,
    features: torch.Tensor | None = None,
) -> torch.Tensor:
    """Normalised motion coefficients (n_frames, m) for the whole audio (N,) 16 kHz, on the generator's device.

    ``progress`` is called after each window (``window.index + 1`` of ``window.n_windows`` done);
    ``features``: precomputed :func:`audio_features`, or None.
    """
    kept = []
    for window in iter_windows(generator, audio, config, noise, features):
        if progress is not None:
            progress(window)
        kept.append(window.kept_motion)
    return torch.cat(kept)
