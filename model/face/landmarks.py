"""Face landmarks: insightface's 106 points (``2d106det.onnx``), LivePortrait's 203-point refiner (``landmark.onnx``).

All points are (N, 2) float32 (x, y) in pixels of the image passed in.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from model.face.crop import Crop, crop_image, transform_points, warp_affine
from model.face.session import open_session

#: Box-relative zoom of the 106-point model's input: the square side is 1.5 * max(box w, h).
BOX_ZOOM_106 = 1.5
#: The refiner's crop: LivePortrait's ``crop_image`` with these parameters (rotation on).
REFINER_SIZE, REFINER_SCALE, REFINER_VY = 224, 1.5, -0.1
#: Which output of ``landmark.onnx`` holds the 203 points (the others are unused heads).
REFINER_OUTPUT = 2


def box_alignment(box: np.ndarray, size: int) -> np.ndarray:
    """(2, 3) float64 similarity mapping image pixels to a (size, size) square around ``box`` (x1, y1, x2, y2).

    Box centre -> square centre, scale = size / (1.5 * max(w, h)), no rotation.
    """
    x1, y1, x2, y2 = (np.float32(v) for v in box)
    cx, cy = (x2 + x1) / 2, (y2 + y1) / 2
    s = size / (float(max(x2 - x1, y2 - y1)) * BOX_ZOOM_106)
    return np.array([[s, 0.0, size / 2 - float(cx) * s], [0.0, s, size / 2 - float(cy) * s]])


def landmark106_input(image_rgb: np.ndarray, box: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The 2d106det input (1, 3, size, size) float32 (raw 0-255 RGB, black border) and its (2, 3) alignment."""
    matrix = box_alignment(box, size)
    aligned = warp_affine(image_rgb, matrix, (size, size))
    return aligned.astype(np.float32).transpose(2, 0, 1)[None], matrix


def landmark106_output(net_out: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Network output (1, 212) in [-1, 1] of the aligned square -> (106, 2) image pixels."""
    pts = (net_out.reshape(-1, 2).astype(np.float32) + 1) * (size // 2)
    return transform_points(pts.astype(np.float64), cv2.invertAffineTransform(matrix)).astype(np.float32)


def refiner_input(image_rgb: np.ndarray, lmk106: np.ndarray) -> tuple[np.ndarray, Crop]:
    """The landmark.onnx input (1, 3, 224, 224) float32 RGB in [0, 1] and the crop it comes from."""
    crop = crop_image(image_rgb, lmk106, dsize=REFINER_SIZE, scale=REFINER_SCALE, vy_ratio=REFINER_VY)
    return (crop.image.astype(np.float32) / 255.0).transpose(2, 0, 1)[None], crop


def refiner_output(net_out: np.ndarray, crop: Crop) -> np.ndarray:
    """Output (1, 406) in crop units (fraction of 224) -> (203, 2) image pixels."""
    return transform_points(net_out.reshape(-1, 2) * REFINER_SIZE, crop.M_c2o)


class Landmark106:
    """``2d106det.onnx``: ``(image_rgb, box) -> (106, 2)`` image pixels."""

    def __init__(self, path: str | os.PathLike, providers: list[str] | None = None) -> None:
        self.session = open_session(path, providers)
        meta = self.session.get_inputs()[0]
        self.input_name = meta.name
        self.size = int(meta.shape[2])

    def __call__(self, image_rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        blob, matrix = landmark106_input(image_rgb, box, self.size)
        return landmark106_output(self.session.run(None, {self.input_name: blob})[0], matrix, self.size)


class Landmark203:
    """LivePortrait's ``landmark.onnx``: ``(image_rgb, lmk106) -> (203, 2)`` image pixels."""

    def __init__(self, path: str | os.PathLike, providers: list[str] | None = None) -> None:
        self.session = open_session(path, providers)
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, image_rgb: np.ndarray, lmk106: np.ndarray) -> np.ndarray:
        blob, crop = refiner_input(image_rgb, lmk106)
        return refiner_output(self.session.run(None, {self.input_name: blob})[REFINER_OUTPUT], crop)
