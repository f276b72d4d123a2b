"""Decoded motion: normalised coefficients -> per-frame LivePortrait motion, and its EMA smoothing.

Spec §4.1/§4.3/§4.4. Everything is float32 numpy over all frames at once (the official code loops
per frame); the EMA is a recurrence in time, so it steps over frames but covers all seven pose
channels per step, in float32 exactly as the reference does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from model.motion.template import EXP_DIM, POSE_FIELDS, MotionTemplate
from model.rotation import get_rotation_matrix

#: Official smoothing constant: y_k = 0.01 x_k + 0.99 y_{k-1}, a time constant of about 100 frames.
EMA_ALPHA = 0.01
_POSE_DIM = sum(size for _, size in POSE_FIELDS)
_ARRAYS = ("exp", "scale", "t", "pitch", "yaw", "roll", "R")


@dataclass(frozen=True)
class MotionSequence:
    """A whole driving-motion sequence of ``n`` frames, float32 arrays.

    exp (n, 21, 3) expression offsets; scale (n, 1); t (n, 3) translation; pitch, yaw, roll (n, 1)
    in degrees; R (n, 3, 3) rotation in LivePortrait's returned-transposed convention
    (``kp @ R`` rotates); fps frames per second.
    """

    exp: np.ndarray
    scale: np.ndarray
    t: np.ndarray
    pitch: np.ndarray
    yaw: np.ndarray
    roll: np.ndarray
    R: np.ndarray
    fps: float

    def __post_init__(self) -> None:
        n = len(self.exp)
        shapes = {"exp": (n, 21, 3), "scale": (n, 1), "t": (n, 3), "pitch": (n, 1), "yaw": (n, 1), "roll": (n, 1),
                  "R": (n, 3, 3)}
        wrong = {k: getattr(self, k).shape for k, s in shapes.items() if getattr(self, k).shape != s}
        if wrong:
            raise ValueError(f"MotionSequence of {n} frames: inconsistent shapes {wrong}")

    def __len__(self) -> int:
        return len(self.exp)

    def pose(self) -> np.ndarray:
        """(n, 7) [scale, tx, ty, tz, pitch, yaw, roll], the channels the EMA smooths."""
        return np.concatenate([self.scale, self.t, self.pitch, self.yaw, self.roll], axis=1)

    def with_pose_scaled(self, factor: float) -> MotionSequence:
        """Head rotation (the angles), translation and scale moved ``factor`` times as far from frame 0's
        (0: a still head; 1: this sequence itself, unchanged)."""
        if factor == 1:
            return self
        pose = self.pose()
        scaled = pose[:1] + np.float32(factor) * (pose - pose[:1])
        return pose_sequence(self.exp, scaled.astype(np.float32), self.fps)

    def frames(self, index: slice) -> MotionSequence:
        """The frames ``index`` (a slice) as a sequence."""
        return MotionSequence(**{name: getattr(self, name)[index] for name in _ARRAYS}, fps=self.fps)

    @staticmethod
    def concat(parts: list[MotionSequence]) -> MotionSequence:
        """The frames of ``parts`` one after the other (same fps)."""
        return MotionSequence(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in _ARRAYS},
                              fps=parts[0].fps)


def _rotation(pitch: np.ndarray, yaw: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """(n, 1) degrees -> (n, 3, 3) float32, through the renderer's own rotation code."""
    angles = (torch.from_numpy(np.ascontiguousarray(a)) for a in (pitch, yaw, roll))
    return get_rotation_matrix(*angles).numpy()


def pose_sequence(exp: np.ndarray, pose: np.ndarray, fps: float) -> MotionSequence:
    """Assemble a sequence from (n, 21, 3) expressions and (n, 7) pose channels; R from the angles."""
    scale, t, pitch, yaw, roll = np.split(pose, [1, 4, 5, 6], axis=1)
    return MotionSequence(exp=exp, scale=scale, t=t, pitch=pitch, yaw=yaw, roll=roll,
                          R=_rotation(pitch, yaw, roll), fps=fps)


def decode_motion(coef: np.ndarray | torch.Tensor, template: MotionTemplate, fps: float) -> MotionSequence:
    """Undo the normalisation of (n, m) coefficients (m >= 70; dims past 70 are unused).

    exp = c[:63] * std_exp + mean_exp (z-score); pose = c[63:70] * (max - min) + min (min-max).
    """
    if isinstance(coef, torch.Tensor):
        coef = coef.detach().to("cpu", torch.float32).numpy()
    coef = np.asarray(coef, dtype=np.float32)
    if coef.ndim != 2 or coef.shape[1] < EXP_DIM + _POSE_DIM:
        raise ValueError(f"expected coefficients (n_frames, >= {EXP_DIM + _POSE_DIM}), got {coef.shape}")
    exp = coef[:, :EXP_DIM] * template.std_exp + template.mean_exp
    pose = coef[:, EXP_DIM:EXP_DIM + _POSE_DIM] * (template.pose_max - template.pose_min) + template.pose_min
    return pose_sequence(exp.reshape(-1, 21, 3), pose, fps)


def ema(values: np.ndarray, alpha: float = EMA_ALPHA, previous: np.ndarray | None = None) -> np.ndarray:
    """Exponential moving average along axis 0 in float32: y_0 = x_0, y_k = alpha x_k + (1 - alpha) y_{k-1}.

    ``previous``: the last output of the frames before ``values`` (continuing a sequence chunk by chunk gives
    the same numbers as the whole sequence at once).
    """
    values = np.asarray(values, dtype=np.float32)
    out = np.empty_like(values)
    for k in range(len(values)):
        if k == 0 and previous is None:
            out[0] = values[0]
            continue
        before = out[k - 1] if k else previous
        out[k] = alpha * values[k] + (1 - alpha) * before
    return out


def smooth_motion(seq: MotionSequence, alpha: float = EMA_ALPHA, previous: np.ndarray | None = None) -> MotionSequence:
    """The official post-processing: EMA on scale, translation and angles; expressions untouched; R recomputed.
    ``previous``: the smoothed (7,) pose of the frame before ``seq`` when continuing a sequence (see :func:`ema`)."""
    return pose_sequence(seq.exp, ema(seq.pose(), alpha, previous), seq.fps)
