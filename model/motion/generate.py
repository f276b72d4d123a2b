"""Stage 1 end to end: 16 kHz audio -> a decoded (and by default smoothed) driving-motion sequence."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch

from model.motion.generator import MotionGenerator
from model.motion.noise import NoiseSource
from model.motion.sampler import SamplerConfig
from model.motion.sequence import MotionSequence, decode_motion, pose_sequence, smooth_motion
from model.motion.template import MotionTemplate
from model.motion.windows import SampledWindow, sample_motion

#: What a driving video's head pose does past its last frame when the audio is longer: held, or looped.
POSE_ENDS = ("hold", "loop")


def generate_motion(
    generator: MotionGenerator,
    template: MotionTemplate,
    audio: np.ndarray | torch.Tensor,
    sampler_config: SamplerConfig | None = None,
    smooth: bool = True,
    noise: NoiseSource | None = None,
    progress: Callable[[SampledWindow], None] | None = None,
) -> MotionSequence:
    """Motion for ``audio`` (N,) float32 mono 16 kHz: ``floor((N + 1920) * fps / 16000)`` frames at the generator's fps.

    ``sampler_config`` defaults to the exact official sampler with the official CLI guidance 2.8;
    ``smooth`` applies the official EMA to scale, translation and head pose; ``noise`` replaces the
    seeded randomness (see :mod:`model.motion.noise`); ``progress`` is called after each window.
    """
    config = SamplerConfig() if sampler_config is None else sampler_config
    coef = sample_motion(generator, audio, config, noise, progress)
    return motion_from_coefficients(coef, template, generator.config.fps, smooth)


class MotionDecoder:
    """Decodes (and smooths) the coefficients of one sequence chunk by chunk, in order; the EMA carries over
    from chunk to chunk, so the frames equal those of the whole sequence decoded at once."""

    def __init__(self, template: MotionTemplate, fps: float, smooth: bool = True) -> None:
        self.template, self.fps, self.smooth = template, fps, smooth
        self._last_pose: np.ndarray | None = None

    def __call__(self, coef: np.ndarray | torch.Tensor) -> MotionSequence:
        """The next (n, m) coefficients -> their n decoded frames."""
        motion = decode_motion(coef, self.template, fps=self.fps)
        if not self.smooth or len(motion) == 0:
            return motion
        motion = smooth_motion(motion, previous=self._last_pose)
        self._last_pose = motion.pose()[-1]
        return motion


def shift_frames(chunks: Iterable[MotionSequence], frames: int) -> Iterator[MotionSequence]:
    """The frames of ``chunks`` moved ``frames`` earlier (later when negative), keeping their count: the first
    ``frames`` are dropped and the last repeated at the end (or the first repeated at the start)."""
    if frames == 0:
        yield from chunks
        return
    last = None
    skip = max(frames, 0)
    for index, chunk in enumerate(chunks):
        if index == 0 and frames < 0:
            chunk = MotionSequence.concat([chunk.frames(slice(0, 1))] * -frames + [chunk])
        if skip:
            dropped = min(skip, len(chunk))
            chunk, skip = chunk.frames(slice(dropped, None)), skip - dropped
        if len(chunk):
            last = chunk
            yield chunk
    if frames > 0 and last is not None:
        yield MotionSequence.concat([last.frames(slice(-1, None))] * frames)


def with_video_pose(chunks: Iterable[MotionSequence], pose: np.ndarray, end: str = "hold") -> Iterator[MotionSequence]:
    """``chunks`` with their head pose replaced frame by frame by ``pose`` (m, 7) [scale, tx, ty, tz, pitch,
    yaw, roll] (read from a driving video; the expression stays). Past the pose's last frame it is held there
    (``end="hold"``) or starts over (``"loop"``)."""
    if end not in POSE_ENDS:
        raise ValueError(f"pose end must be one of {', '.join(POSE_ENDS)}; got {end!r}")
    done = 0
    for chunk in chunks:
        index = np.arange(done, done + len(chunk))
        index = index % len(pose) if end == "loop" else np.minimum(index, len(pose) - 1)
        yield pose_sequence(chunk.exp, pose[index].astype(np.float32), chunk.fps)
        done += len(chunk)


def motion_from_coefficients(
    coef: np.ndarray | torch.Tensor, template: MotionTemplate, fps: float, smooth: bool = True
) -> MotionSequence:
    """Normalised coefficients (n, m) -> the decoded sequence, EMA-smoothed unless ``smooth`` is False."""
    return MotionDecoder(template, fps, smooth)(coef)
