"""The official runner around the network: image preprocessing, the pick of one instance, pixel landmarks.

``preprocess``: PIL bilinear resize (short side 800, long side truncated, at most 1333), /255, ImageNet mean/std.
``select_instance``: sigmoid scores, NMS with IoU 0 (torchvision's CPU kernel order), the first kept query.
Landmarks are float64 (x, y) pixels of the original image (normalised keypoints times W, H), as officially.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from model.face.xpose.config import FULL
from model.face.xpose.model import TextPrompt, UniPose, XPoseOutput

SHORT_SIDE, MAX_SIDE = FULL.short_side, FULL.max_side
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def network_size(
    width: int, height: int, size: int = SHORT_SIDE, max_size: int = MAX_SIDE
) -> tuple[int, int]:
    """(width, height) the runner resizes a (width, height) image to (torchvision ``RandomResize([800], 1333)``)."""
    short, long = float(min(width, height)), float(max(width, height))
    if long / short * size > max_size:
        size = round(max_size * short / long)
    if (width <= height and width == size) or (height <= width and height == size):
        return width, height
    if width < height:
        return size, int(size * height / width)
    return int(size * width / height), size


def preprocess(image_rgb: np.ndarray, short_side: int = SHORT_SIDE, max_side: int = MAX_SIDE) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, H', W') float32 normalised network input."""
    pil = Image.fromarray(np.ascontiguousarray(image_rgb[..., :3])).convert("RGB")
    size = network_size(*pil.size, short_side, max_side)
    if size != pil.size:
        pil = pil.resize(size, Image.BILINEAR)
    x = torch.from_numpy(np.array(pil, dtype=np.uint8)).permute(2, 0, 1).float().div(255)
    mean = torch.tensor(MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(STD, dtype=torch.float32)[:, None, None]
    return ((x - mean) / std)[None]


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], -1)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS as torchvision's CPU kernel: visit boxes in ``scores.sort(descending=True)`` order (ATen's
    non-stable sort: ties follow its order, not the index), drop every later box whose IoU exceeds the threshold.

    boxes (N, 4) xyxy, scores (N,) -> kept indices (K,) int64 in visiting order. Same float32 arithmetic.
    """
    boxes, scores = boxes.cpu(), scores.cpu()
    x1, y1, x2, y2 = boxes.unbind(-1)
    areas = (x2 - x1) * (y2 - y1)
    order = scores.sort(0, descending=True)[1]
    suppressed = torch.zeros(len(scores), dtype=torch.bool)
    keep = []
    for rank, i in enumerate(order.tolist()):
        if suppressed[i]:
            continue
        keep.append(i)
        rest = order[rank + 1 :]
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        suppressed[rest[iou > iou_threshold]] = True
    return torch.tensor(keep, dtype=torch.int64)


@dataclass(frozen=True)
class Detection:
    """The runner's pick for one image.

    landmarks: (N, 2) float64 (x, y) pixels of the original image; box: (4,) float64 (x1, y1, x2, y2) pixels;
    score: the sigmoid score; query: index of the chosen box query (of the G groups); nms_keep: indices kept by
    NMS (into the queries above the score threshold, in visiting order).
    """

    landmarks: np.ndarray
    box: np.ndarray
    score: float
    query: int
    nms_keep: np.ndarray


def select_instance(
    output: XPoseOutput, index: int, num_points: int, width: int, height: int,
    box_threshold: float = 0.0, iou_threshold: float = 0.0,
) -> Detection | None:
    """The official pick for image ``index`` of a batch (the cropper's thresholds are 0, 0); None if no query
    scores above ``box_threshold``."""
    scores = output.pred_logits[index].sigmoid().max(-1)[0].cpu()
    boxes = output.pred_boxes[index].cpu()
    candidates = torch.nonzero(scores > box_threshold).flatten()
    if len(candidates) == 0:
        return None
    keep = nms(cxcywh_to_xyxy(boxes[candidates]), scores[candidates], iou_threshold)
    query = int(candidates[keep[0]])
    xy = output.pred_keypoints[index, query, : 2 * num_points].cpu().numpy().reshape(num_points, 2)
    scale = np.array([width, height], dtype=np.int64)
    box = cxcywh_to_xyxy(boxes[query]).numpy().reshape(2, 2) * scale
    return Detection(landmarks=xy * scale, box=box.reshape(4), score=float(scores[query]), query=query,
                     nms_keep=keep.numpy())


class XPoseRunner:
    """A loaded detector with its prompt: ``runner(image_rgb) -> Detection | None`` (and the raw output)."""

    def __init__(self, model: UniPose, prompt: TextPrompt) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.prompt = prompt.to(self.device)
        self.num_points = int(prompt.keypoints.shape[0])

    @torch.no_grad()
    def forward(self, image_rgb: np.ndarray) -> XPoseOutput:
        cfg = self.model.config
        return self.model(preprocess(image_rgb, cfg.short_side, cfg.max_side).to(self.device), self.prompt)

    def __call__(self, image_rgb: np.ndarray) -> Detection | None:
        height, width = image_rgb.shape[:2]
        return select_instance(self.forward(image_rgb), 0, self.num_points, width, height)
