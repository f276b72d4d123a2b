"""The feathered paste-back mask of LivePortrait (``mask_template.png``), generated from its formula."""

from __future__ import annotations

import numpy as np

#: Width of the linear ramp from 255 (inside) to 0 at the crop border, in pixels.
FEATHER = 16


def feather_mask(size: int = 512, feather: int = FEATHER) -> np.ndarray:
    """(size, size, 3) uint8: ``floor(255 * clip((feather - d) / feather, 0, 1))``.

    ``d`` is the Euclidean distance from pixel (x, y) to the square ``[feather, size - feather]^2``, so the
    mask is 255 inside, ramps linearly to 0 over ``feather`` pixels and has rounded corners; this equals
    the official 512x512 template read as 3 identical channels.
    """
    coords = np.arange(size, dtype=np.float64)
    outside = np.maximum(np.maximum(feather - coords, coords - (size - feather)), 0.0)
    dist = np.sqrt(outside[:, None] ** 2 + outside[None, :] ** 2)
    plane = np.floor(255.0 * np.clip((feather - dist) / feather, 0.0, 1.0)).astype(np.uint8)
    return np.repeat(plane[:, :, None], 3, axis=2)
