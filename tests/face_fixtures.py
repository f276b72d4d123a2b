"""Test inputs for ``model.face``: a drawn face the Haar cascade finds, and tiny ONNX stand-ins for the
official face models (same input/output names and shapes, outputs fixed so the decoders have known answers).

The tiny models add ``0 * sum(input)`` to constant tensors, so the input is part of the graph (any input
size is accepted where the official model accepts it) while the outputs stay known.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model.face.scrfd import ANCHORS_PER_CELL, DET_SIZE, STRIDES

#: Output names of the official det_10g.onnx, in its order: scores, boxes, 5 points; strides 8, 16, 32.
DET_OUTPUT_NAMES = ("448", "471", "494", "451", "474", "497", "454", "477", "500")


def schematic_face(size: int) -> np.ndarray:
    """(size, size) uint8 gray: a blurred drawing of a frontal face (dark eyes and brows, bright nose
    bridge, darker mouth) on a mid-gray background; OpenCV's frontal-face cascade finds it.
    """
    img = np.full((size, size), 90, np.uint8)
    c, s = size // 2, size / 400

    def ellipse(dx: float, dy: float, ax: float, ay: float, value: int) -> None:
        cv2.ellipse(img, (c + int(dx * s), c + int(dy * s)), (int(ax * s), int(ay * s)), 0, 0, 360, value, -1)

    ellipse(0, 0, 120, 160, 200)
    for dx in (-55, 55):
        ellipse(dx, -40, 30, 14, 40)
        ellipse(dx, -75, 38, 8, 60)
    ellipse(0, 20, 14, 40, 225)
    ellipse(0, 55, 22, 8, 120)
    ellipse(0, 95, 50, 12, 70)
    return cv2.GaussianBlur(img, (0, 0), 6 * s)


def image_with_faces(height: int, width: int, faces: list[tuple[int, int, int]]) -> np.ndarray:
    """(height, width, 3) uint8 RGB with schematic faces pasted at (x, y, size) (top-left corner, side)."""
    canvas = np.full((height, width), 90, np.uint8)
    for x, y, size in faces:
        canvas[y : y + size, x : x + size] = schematic_face(size)
    return cv2.cvtColor(canvas, cv2.COLOR_GRAY2RGB)


def _constant_model(input_name: str, input_shape: list, outputs: list[tuple[str, np.ndarray]], path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceSum", [input_name], ["input_sum"], keepdims=0),
        helper.make_node("Mul", ["input_sum", "zero"], ["input_zero"]),
    ]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    for name, value in outputs:
        inits.append(numpy_helper.from_array(value.astype(np.float32), f"{name}_const"))
        nodes.append(helper.make_node("Add", [f"{name}_const", "input_zero"], [name]))
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)) for name, value in outputs],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@dataclass(frozen=True)
class TinyFace:
    """A face the tiny detector reports: box (x1, y1, x2, y2) and 5 points in 512-canvas pixels."""

    stride: int
    row: int
    col: int
    anchor: int
    score: float
    box: tuple[float, float, float, float]

    @property
    def center(self) -> np.ndarray:
        return np.array([self.col * self.stride, self.row * self.stride], np.float32)

    @property
    def kps(self) -> np.ndarray:
        x1, y1, x2, y2 = self.box
        w, h = x2 - x1, y2 - y1
        rel = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]], np.float32)
        return np.array([x1, y1], np.float32) + rel * np.array([w, h], np.float32)


def write_det_10g(path: Path, faces: list[TinyFace], det_size: int = DET_SIZE) -> Path:
    """det_10g stand-in: input ``input.1`` (1, 3, H, W) dynamic; 9 outputs (N, 1) / (N, 4) / (N, 10) per
    stride with N = (det_size / stride)^2 * 2, reporting ``faces`` (all other anchors score 0)."""
    per_stride = {}
    for stride in STRIDES:
        n = (det_size // stride) ** 2 * ANCHORS_PER_CELL
        per_stride[stride] = (np.zeros((n, 1)), np.zeros((n, 4)), np.zeros((n, 10)))
    for face in faces:
        scores, boxes, kps = per_stride[face.stride]
        index = (face.row * (det_size // face.stride) + face.col) * ANCHORS_PER_CELL + face.anchor
        cx, cy = face.center
        x1, y1, x2, y2 = face.box
        scores[index] = face.score
        boxes[index] = np.array([cx - x1, cy - y1, x2 - cx, y2 - cy]) / face.stride
        kps[index] = ((face.kps - face.center) / face.stride).reshape(-1)
    outputs = [per_stride[s][k] for k in range(3) for s in STRIDES]
    return _constant_model("input.1", [1, 3, "height", "width"], list(zip(DET_OUTPUT_NAMES, outputs, strict=True)),
                           path)


def layout_106() -> np.ndarray:
    """(106, 2) float32 in [-1, 1]: a face outline with the eye and lip anchor points where parse_pt2 reads them."""
    t = np.linspace(0, 2 * np.pi, 106, endpoint=False)
    pts = np.stack([0.45 * np.cos(t), 0.55 * np.sin(t)], axis=1)
    pts[[33, 35, 40, 39]] = [-0.2, -0.15]
    pts[[87, 89, 94, 93]] = [0.2, -0.15]
    pts[[52, 61]] = [[-0.05, 0.3], [0.05, 0.3]]
    return pts.astype(np.float32)


def write_2d106det(path: Path, layout: np.ndarray) -> Path:
    """2d106det stand-in: input ``data`` (1, 3, 192, 192) -> ``fc1`` (1, 212) = ``layout`` flattened."""
    return _constant_model("data", [1, 3, 192, 192], [("fc1", layout.reshape(1, 212))], path)


def write_landmark(path: Path, pts: np.ndarray) -> Path:
    """landmark.onnx stand-in: input ``input`` (1, 3, 224, 224) -> three heads, the third (1, 406) = ``pts``."""
    outputs = [("coeff", np.zeros((1, 214))), ("lmk", np.zeros((1, 262))), ("pts", pts.reshape(1, 406))]
    return _constant_model("input", [1, 3, 224, 224], outputs, path)
