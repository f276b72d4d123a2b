"""Head rotation from pitch, yaw and roll in degrees: shared by the motion decoder and the renderer's keypoint math.

:func:`get_rotation_matrix` returns the *transposed* rotation ``Rt`` so that ``kp @ Rt`` rotates row-vector
keypoints, as LivePortrait does.
"""

from __future__ import annotations

import math

import torch


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
