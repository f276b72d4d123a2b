"""SCRFD face detection with insightface's ``det_10g.onnx`` (buffalo_l), pre- and post-processing restated.

The network sees a ``det_size`` square: the image scaled (aspect kept, cv2 bilinear) so its long side fills
the square, pasted at the top-left of a black canvas, RGB, ``(x - 127.5) / 128``, NCHW float32. It answers
with 9 tensors in the order scores / box distances / 5-point distances, each for strides 8, 16 and 32;
every cell of a stride's grid has 2 anchors centred at ``(col * stride, row * stride)``. Distances are in
units of the stride. Boxes are (x1, y1, x2, y2) and points (x, y) in pixels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from model.face.session import open_session

STRIDES = (8, 16, 32)
ANCHORS_PER_CELL = 2
DET_SIZE = 512
#: Effective score threshold of the official CLI (``ArgumentConfig.det_thresh``).
DET_THRESH = 0.15
NMS_IOU = 0.4
_MEAN, _STD = 127.5, 128.0


@dataclass(frozen=True, eq=False)
class Detections:
    """boxes (N, 4) float32 (x1, y1, x2, y2), scores (N,) float32, kps (N, 5, 2) float32, in image pixels."""

    boxes: np.ndarray
    scores: np.ndarray
    kps: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def letterbox(image: np.ndarray, size: int = DET_SIZE) -> tuple[np.ndarray, float]:
    """(H, W, 3) uint8 -> ((size, size, 3) uint8 canvas with the resized image at the top-left, scale).

    ``scale`` = new height / H maps image pixels to canvas pixels (int-truncated side as in insightface).
    """
    height, width = image.shape[:2]
    if height / width > 1:
        new_h, new_w = size, int(size / (height / width))
    else:
        new_h, new_w = int(size * (height / width)), size
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h))
    return canvas, new_h / height


def to_blob(canvas_rgb: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 RGB -> (1, 3, S, S) float32 ``(x - 127.5) / 128``."""
    return ((canvas_rgb.astype(np.float32) - _MEAN) / _STD).transpose(2, 0, 1)[None]


def anchor_centers(height: int, width: int, stride: int) -> np.ndarray:
    """(height * width * 2, 2) float32 anchor centres (x, y) in canvas pixels, row-major, anchors adjacent."""
    rows, cols = np.mgrid[:height, :width]
    centers = (np.stack([cols, rows], axis=-1).astype(np.float32) * stride).reshape(-1, 2)
    return np.repeat(centers, ANCHORS_PER_CELL, axis=0)


def decode(outputs: list[np.ndarray], input_size: int, threshold: float) -> Detections:
    """The 9 network outputs -> all anchors with score >= threshold, in canvas pixels (not yet NMS'd)."""
    levels = len(STRIDES)
    boxes, scores, kps = [], [], []
    for i, stride in enumerate(STRIDES):
        score = outputs[i].reshape(-1)
        dist = outputs[i + levels].reshape(-1, 4) * stride
        kdist = outputs[i + 2 * levels].reshape(-1, 5, 2) * stride
        centers = anchor_centers(input_size // stride, input_size // stride, stride)
        keep = score >= threshold
        c = centers[keep]
        boxes.append(np.concatenate([c - dist[keep, :2], c + dist[keep, 2:]], axis=1))
        kps.append(c[:, None, :] + kdist[keep])
        scores.append(score[keep])
    return Detections(np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps))


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> np.ndarray:
    """Greedy NMS: indices kept, best score first; overlap uses pixel-inclusive areas (``w + 1``)."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        best, rest = order[0], order[1:]
        keep.append(best)
        w = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        inter = w * h
        order = rest[inter / (areas[best] + areas[rest] - inter) <= iou]
    return np.asarray(keep, dtype=np.int64)


class Scrfd:
    """``det_10g.onnx`` through onnxruntime: ``detect(image_rgb)`` -> :class:`Detections`, best score first."""

    def __init__(
        self, path: str | os.PathLike, threshold: float = DET_THRESH, det_size: int = DET_SIZE,
        providers: list[str] | None = None,
    ) -> None:
        self.session = open_session(path, providers)
        self.input_name = self.session.get_inputs()[0].name
        self.threshold = threshold
        self.det_size = det_size

    def detect(self, image_rgb: np.ndarray) -> Detections:
        canvas, det_scale = letterbox(image_rgb, self.det_size)
        outputs = self.session.run(None, {self.input_name: to_blob(canvas)})
        found = decode(outputs, self.det_size, self.threshold)
        boxes = (found.boxes / det_scale).astype(np.float32)
        kps = (found.kps / det_scale).astype(np.float32)
        # As insightface: sort by score, then NMS in image pixels.
        order = found.scores.argsort()[::-1]
        boxes, scores, kps = boxes[order], found.scores[order], kps[order]
        keep = nms(boxes, scores)
        return Detections(boxes[keep], scores[keep].astype(np.float32), kps[keep])
