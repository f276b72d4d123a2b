"""Implicit-keypoint math of LivePortrait: keypoint transform, head-pose decoding, landmark ratios.

Conventions (spec liveportrait.md §4): angles in degrees; keypoints (B, K, 3) used as row vectors; rotations
are :func:`model.rotation.get_rotation_matrix`'s transposed ``Rt``, so ``kp @ Rt`` rotates each point by
``R = Rz(roll) Ry(yaw) Rx(pitch)``.
"""

from __future__ import annotations

import numpy as np
import torch

#: Keypoint rows the generated lips drive absolutely (JoyVASA human composition).
LIP_KEYPOINTS = (6, 12, 14, 17, 19, 20)
#: Keypoint rows of the eyes (LivePortrait's eye region).
EYE_KEYPOINTS = (11, 13, 15, 16, 18)


def transform_keypoint(
    kp: torch.Tensor, rot_t: torch.Tensor, exp: torch.Tensor, scale: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """Paper Eq. 2: ``x = s * (x_c @ Rt + exp) + [tx, ty, 0]`` (tz is never applied).

    kp, exp: (B, K, 3) (or flat (B, 3K)); rot_t: (B, 3, 3); scale: (B, 1); t: (B, 3). Returns (B, K, 3).
    """
    batch = kp.shape[0]
    out = kp.reshape(batch, -1, 3) @ rot_t + exp.reshape(batch, -1, 3)
    out = out * scale[..., None]
    return torch.cat([out[..., :2] + t[:, None, :2], out[..., 2:]], dim=-1)


def _distance_ratio(lmk: np.ndarray, a: int, b: int, c: int, d: int, eps: float = 1e-6) -> np.ndarray:
    """|p_a - p_b| / (|p_c - p_d| + eps) per batch item: (B, N, 2) -> (B, 1)."""
    num = np.linalg.norm(lmk[:, a] - lmk[:, b], axis=1, keepdims=True)
    den = np.linalg.norm(lmk[:, c] - lmk[:, d], axis=1, keepdims=True)
    return num / (den + eps)


def eye_close_ratio(lmk203: np.ndarray) -> np.ndarray:
    """Left and right eye opening ratios from 203-point landmarks (B, 203, 2) -> (B, 2)."""
    lmk203 = np.asarray(lmk203)
    return np.concatenate([_distance_ratio(lmk203, 6, 18, 0, 12), _distance_ratio(lmk203, 30, 42, 24, 36)], axis=1)


def lip_close_ratio(lmk203: np.ndarray) -> np.ndarray:
    """Lip opening ratio from 203-point landmarks (B, 203, 2) -> (B, 1)."""
    return _distance_ratio(np.asarray(lmk203), 90, 102, 48, 66)
