"""The precision benchmark's emulation of reduced-precision kernels (benchmarks/bench_precision.py).

Rows of its table are emulated where the device has no native kernels, so the emulation must round exactly where
native autocast does: compared here with native CPU autocast on shapes small enough for the slow reference kernels.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmarks.bench_precision import EmulatedMatmulPrecision
from benchmarks.common import frame_distance


def _layers(x: torch.Tensor, x3: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
    """A conv2d, a conv3d and a linear, as W and G call them."""
    w2 = torch.randn(8, 6, 3, 3, generator=generator) * 0.2
    w3 = torch.randn(5, 4, 3, 3, 3, generator=generator) * 0.2
    wl, bl = torch.randn(7, 6, generator=generator), torch.randn(7, generator=generator)
    return [F.conv2d(x, w2, torch.ones(8), padding=1), F.conv3d(x3, w3, padding=1),
            F.linear(x.permute(0, 2, 3, 1), wl, bl)]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_emulation_rounds_where_native_autocast_does(dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(0)
    x, x3 = torch.randn(2, 6, 10, 10, generator=generator), torch.randn(1, 4, 5, 6, 6, generator=generator)
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype):
        native = _layers(x, x3, torch.Generator().manual_seed(1))
        mode = EmulatedMatmulPrecision()
        with mode:
            emulated = _layers(x, x3, torch.Generator().manual_seed(1))
    assert mode.emulated == 3  # every layer went through the float32 kernels
    assert all(a.dtype == b.dtype == dtype for a, b in zip(native, emulated, strict=True))
    # Convolutions (all of W and G) are bit for bit the native ones.
    assert torch.equal(native[0], emulated[0]) and torch.equal(native[1], emulated[1])
    # This CPU's native linear rounds the product before adding the bias; the emulation adds it in float32 and
    # rounds once, as fused kernels do: at most one low-precision step at the output's scale apart.
    step = torch.finfo(dtype).eps * native[2].float().abs().max()
    torch.testing.assert_close(emulated[2].float(), native[2].float(), rtol=0, atol=float(step))


def test_emulation_leaves_float32_alone() -> None:
    x = torch.randn(1, 3, 8, 8)
    weight = torch.randn(4, 3, 3, 3)
    mode = EmulatedMatmulPrecision()
    with torch.inference_mode(), mode:
        out = F.conv2d(x, weight, padding=1)
    assert mode.emulated == 0 and torch.equal(out, F.conv2d(x, weight, padding=1))


def test_distance_is_psnr_and_max_abs_over_uint8_frames() -> None:
    a = np.zeros((2, 4, 4, 3), np.uint8)
    assert frame_distance(a, a) == (math.inf, 0)
    b = a.copy()
    b[0, 0, 0, 0] = 10
    psnr, max_abs = frame_distance(a, b)
    assert max_abs == 10
    assert psnr == pytest.approx(10 * math.log10(255**2 / (100 / a.size)))
