"""The live crop preview: where the crop falls on the image, next to what the networks will see."""

from __future__ import annotations

import cv2
import numpy as np

from model.face.crop import CROP_SIZE
from model.face.source_crop import SourceCrop

OUTLINE = (255, 64, 64)


def crop_outline(crop: SourceCrop) -> np.ndarray:
    """(4, 2) corners of the crop square in pixels of ``crop.image`` (the crop may be rotated)."""
    corners = np.array([[0, 0, 1], [CROP_SIZE, 0, 1], [CROP_SIZE, CROP_SIZE, 1], [0, CROP_SIZE, 1]], np.float32)
    mapped = corners @ crop.M_c2o.T
    return mapped[:, :2] / mapped[:, 2:3]


def preview_image(crop: SourceCrop) -> np.ndarray:
    """The image with the crop square drawn on it, and the crop itself at the image's height to its right."""
    image = crop.image.copy()
    thickness = max(2, round(max(image.shape[:2]) / 300))
    cv2.polylines(image, [np.round(crop_outline(crop)).astype(np.int32)], True, OUTLINE, thickness, cv2.LINE_AA)
    height = image.shape[0]
    side = cv2.resize(crop.crop_512, (height, height), interpolation=cv2.INTER_AREA)
    gap = np.full((height, max(4, height // 60), 3), 255, np.uint8)
    return np.hstack([image, gap, side])
