"""Sinusoidal position encodings: image levels (2-D, temperature 20), text tokens and reference boxes (10000).

Feature k of an axis is sin(v / t_k) for even k and cos(v / t_k) for odd k, t_k = T^(2 floor(k/2) / n).
"""

from __future__ import annotations

import math

import torch

TWO_PI = 2 * math.pi


def _interleave(v: torch.Tensor) -> torch.Tensor:
    """(..., n) angles -> (..., n): sin of the even features, cos of the odd ones, interleaved."""
    return torch.stack((v[..., 0::2].sin(), v[..., 1::2].cos()), dim=-1).flatten(-2)


def _periods(n: int, temperature: float, device: torch.device) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float32, device=device)
    return temperature ** (2 * (k // 2) / n)


def image_position(batch: int, h: int, w: int, dim: int, temperature: float, device: torch.device) -> torch.Tensor:
    """(B, dim, H, W): y features (dim/2 channels) then x, at normalised 1-based positions times 2 pi.

    Unpadded images only (every position valid), as the runner feeds one image at a time.
    """
    ones = torch.ones(batch, h, w, device=device)
    y = ones.cumsum(1, dtype=torch.float32)
    x = ones.cumsum(2, dtype=torch.float32)
    eps = 1e-6
    y = y / (y[:, -1:, :] + eps) * TWO_PI
    x = x / (x[:, :, -1:] + eps) * TWO_PI
    t = _periods(dim // 2, temperature, device)
    pos_y = _interleave(y[..., None] / t)
    pos_x = _interleave(x[..., None] / t)
    return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)


def sine_embed(values: torch.Tensor, per_coord: int, temperature: float = 10000.0) -> torch.Tensor:
    """(..., K) coordinates -> (..., K * per_coord), each coordinate encoded as ``_interleave(2 pi v / t)``."""
    t = _periods(per_coord, temperature, values.device)
    parts = [_interleave(values[..., i : i + 1] * TWO_PI / t) for i in range(values.shape[-1])]
    return torch.cat(parts, dim=-1)


def box_sine_embed(boxes: torch.Tensor, per_coord: int) -> torch.Tensor:
    """(..., 4) (cx, cy, w, h) -> (..., 4 * per_coord) in the order (y, x, w, h) (the official layout)."""
    return sine_embed(boxes[..., [1, 0, 2, 3]], per_coord)
