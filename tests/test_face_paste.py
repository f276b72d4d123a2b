"""Paste-back: the batched torch path against OpenCV for various crop placements, layouts and dtypes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.face.crop import Rect, similarity_o2c
from model.face.paste import TorchPasteBack, paste_back, prepare_paste_back

RNG = np.random.default_rng(0)


def placement(center, side: float, angle_deg: float) -> np.ndarray:
    """M_c2o of a 512 crop of side ``side`` pixels centred at ``center``, rotated by ``angle_deg``."""
    rect = Rect(np.array(center, np.float32), np.array([side, side], np.float32), float(np.radians(angle_deg)))
    return np.linalg.inv(similarity_o2c(rect, 512))


@pytest.mark.parametrize(
    ("center", "side", "angle"),
    [
        ((160, 120), 200.0, 0.0),  # inside, shrunk
        ((150, 100), 700.0, 17.0),  # larger than the image, rotated
        ((300, 20), 150.0, -33.5),  # partly outside the image
        ((100, 130), 512.0, 0.0),  # one-to-one scale: integer taps
    ],
)
def test_torch_equals_opencv(center, side: float, angle: float) -> None:
    image = RNG.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    crops = RNG.integers(0, 256, (3, 512, 512, 3), dtype=np.uint8)
    prepared = prepare_paste_back(image, placement(center, side, angle))
    expected = paste_back(crops, prepared)
    out = TorchPasteBack.from_prepared(prepared)(torch.from_numpy(crops))
    assert out.dtype == torch.uint8 and out.shape == (3, 240, 320, 3)
    np.testing.assert_array_equal(out.numpy(), expected)
    # Where the mask is zero the source image is untouched.
    outside = prepared.mask[..., 0] == 0
    assert (expected[:, outside] == image[outside]).all()


def test_float_crops_are_truncated_like_the_reference() -> None:
    image = RNG.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    prepared = prepare_paste_back(image, placement((80, 60), 100.0, 5.0))
    floats = torch.rand(2, 3, 512, 512) * 1.2 - 0.1
    as_uint8 = (floats.clamp(0, 1) * 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    paster = TorchPasteBack.from_prepared(prepared)
    np.testing.assert_array_equal(paster(floats).numpy(), paste_back(as_uint8.numpy(), prepared))


def test_bad_crop_shape_is_refused() -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    paster = TorchPasteBack.from_prepared(prepare_paste_back(image, placement((32, 32), 64.0, 0.0)))
    with pytest.raises(ValueError, match="expected crops"):
        paster(torch.zeros(512, 512, 3, dtype=torch.uint8))
