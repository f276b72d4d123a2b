"""Implicit-keypoint math of LivePortrait: head-pose rotation, keypoint transform, landmark ratios.

Conventions (spec liveportrait.md §4): angles in degrees; keypoints (B, K, 3) used as row vectors;
:func:`get_rotation_matrix` returns the *transposed* rotation ``Rt`` so that ``kp @ Rt`` rotates
each point by ``R = Rz(roll) Ry(yaw) Rx(pitch)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

#: Keypoint rows the generated lips drive absolutely (JoyVASA human composition).
LIP_KEYPOINTS = (6, 12, 14, 17, 19, 20)
#: Keypoint rows of the eyes (LivePortrait's eye region).
EYE_KEYPOINTS = (11, 13, 15, 16, 18)


def get_rotation_matrix(pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Degrees (B,) or (B, 1) -> ``Rt`` (B, 3, 3), the transpose of ``Rz(roll) @ Ry(yaw) @ Rx(pitch)``."""
    # Same operation order as the reference (deg / 180 * pi) so float32 results match bit for bit.
    x, y, z = (a.reshape(-1, 1) / 180 * math.pi for a in (pitch, yaw, roll))
    ones, zeros = torch.ones_like(x), torch.zeros_like(x)
    batch = x.shape[0]
    rot_x = torch.cat([ones, zeros, zeros, zeros, x.cos(), -x.sin(), zeros, x.sin(), x.cos()], dim=1)
    rot_y = torch.cat([y.cos(), zeros, y.sin(), zeros, ones, zeros, -y.sin(), zeros, y.cos()], dim=1)
    rot_z = torch.cat([z.cos(), -z.sin(), zeros, z.sin(), z.cos(), zeros, zeros, zeros, ones], dim=1)
    rot = rot_z.reshape(batch, 3, 3) @ rot_y.reshape(batch, 3, 3) @ rot_x.reshape(batch, 3, 3)
    return rot.transpose(1, 2)


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
