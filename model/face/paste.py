"""Paste-back: put animated 512x512 crops back into the source image through the feathered mask.

Per frame the reference does ``out = uint8(clip(mask * warp(crop) + (1 - mask) * image, 0, 255))`` with
``warp`` = ``cv2.warpAffine(crop, M_c2o, (W, H))`` (bilinear, black border) and a truncating cast. Two
implementations, both for many frames at once:

* :func:`paste_back` — OpenCV per frame on CPU (the reference itself);
* :class:`TorchPasteBack` — ``grid_sample`` over the whole batch on any torch device (the batched
  renderer's path), only at the pixels under the mask. Its sampling grid holds OpenCV's own fixed-point
  source positions (see :func:`opencv_source_positions`), so it gives the same bytes as :func:`paste_back`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from model.face.crop import CROP_SIZE, warp_affine
from model.face.mask import FEATHER, feather_mask

# OpenCV's fixed-point warp: source positions in 1/32 pixel (INTER_BITS = 5), computed from the inverse
# matrix scaled by 2**10 (AB_BITS).
_INTER_BITS = 5
_AB_BITS = 10


@dataclass(frozen=True, eq=False)
class PasteBack:
    """Per-source paste-back state (computed once).

    image: (H, W, 3) uint8 source image; M_c2o: (3, 3) float32 crop->image pixels; mask: (H, W, 3) float32
    in [0, 1], the feathered crop mask warped into the image; crop_size: side of the crops in pixels;
    box: (top, bottom, left, right), the bounding box of the non-zero mask (outside it a frame is the image);
    background: the constant half of the blend, ``(1 - mask) * image`` in float32, inside ``box``.
    """

    image: np.ndarray
    M_c2o: np.ndarray
    mask: np.ndarray
    crop_size: int = CROP_SIZE
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    background: np.ndarray | None = None


def prepare_paste_back(image: np.ndarray, M_c2o: np.ndarray, crop_size: int = CROP_SIZE) -> PasteBack:
    """Warp the feathered mask into the image: ``warpAffine(mask, M_c2o, (W, H)) / 255`` as float32.

    ``M_c2o`` maps the pixels of a ``CROP_SIZE`` crop. Frames of another ``crop_size`` (a renderer with
    a smaller generator, e.g. test weights) are placed by the same crop square, scaled: their mask
    feather scales with them.
    """
    height, width = image.shape[:2]
    if crop_size != CROP_SIZE:
        step = CROP_SIZE / crop_size  # pixel centres: crop pixel u lies at (u + 0.5) * step - 0.5
        M_c2o = np.asarray(M_c2o, np.float64) @ np.array(
            [[step, 0, (step - 1) / 2], [0, step, (step - 1) / 2], [0, 0, 1]]
        )
    feather = max(1, round(FEATHER * crop_size / CROP_SIZE))
    mask = warp_affine(feather_mask(crop_size, feather), M_c2o, (width, height)).astype(np.float32) / 255.0
    ys, xs = np.nonzero(mask[:, :, 0] > 0)
    box = (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1) if len(ys) else (0, 0, 0, 0)
    top, bottom, left, right = box
    background = (1 - mask[top:bottom, left:right]) * image[top:bottom, left:right]
    return PasteBack(image=image, M_c2o=np.asarray(M_c2o, np.float32), mask=mask, crop_size=crop_size, box=box,
                     background=background)


def paste_back(crops: np.ndarray, prepared: PasteBack) -> np.ndarray:
    """OpenCV path: crops (B, S, S, 3) uint8 (S = crop size) -> (B, H, W, 3) uint8, frame by frame.

    The blend runs only inside the mask's bounding box, with its constant half precomputed: outside, the
    reference's float round trip gives back the image's own bytes; inside, the same float32 operations.
    """
    height, width = prepared.image.shape[:2]
    top, bottom, left, right = prepared.box
    mask = prepared.mask[top:bottom, left:right]
    out = np.repeat(prepared.image[None], len(crops), axis=0)
    for i, crop in enumerate(crops):
        warped = warp_affine(crop, prepared.M_c2o, (width, height))[top:bottom, left:right]
        blended = mask * warped + prepared.background
        out[i, top:bottom, left:right] = np.clip(blended, 0, 255).astype(np.uint8)
    return out


def _inverse_affine_like_opencv(matrix: np.ndarray) -> np.ndarray:
    """The dst->src matrix (6,) float64 exactly as ``cv2.warpAffine`` derives it from a src->dst matrix."""
    m = matrix[:2].astype(np.float64).ravel()
    det = m[0] * m[4] - m[1] * m[3]
    det = 1.0 / det if det != 0 else 0.0
    a11, a12, a21, a22 = m[4] * det, m[1] * -det, m[3] * -det, m[0] * det
    b1 = -a11 * m[2] - a12 * m[5]
    b2 = -a21 * m[2] - a22 * m[5]
    return np.array([a11, a12, b1, a21, a22, b2])


def opencv_source_positions(matrix: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where ``cv2.warpAffine(src, matrix, ...)`` samples for destination pixels (xs, ys) (P,), in 1/32 pixel.

    Returns (qx, qy) int64: the source position is (qx / 32, qy / 32). OpenCV rounds the row term and the
    column term of the inverse matrix separately to 1/1024 pixel, adds half a step and shifts down to 1/32;
    its bilinear weights are then exact multiples of 1/1024 and the uint8 result is rounded half up.
    """
    inv = _inverse_affine_like_opencv(matrix)

    def fixed(v: np.ndarray) -> np.ndarray:
        return np.rint(v * (1 << _AB_BITS)).astype(np.int64)

    round_delta = 1 << (_AB_BITS - _INTER_BITS - 1)
    shift = _AB_BITS - _INTER_BITS
    qx = (fixed(inv[1] * ys + inv[2]) + fixed(inv[0] * xs) + round_delta) >> shift
    qy = (fixed(inv[4] * ys + inv[5]) + fixed(inv[3] * xs) + round_delta) >> shift
    return qx, qy


def sampling_grid(qx: np.ndarray, qy: np.ndarray, size: int) -> np.ndarray:
    """(P, 2) float32 ``grid_sample`` coordinates (align_corners=False) of source positions q / 32 pixels.

    Pixel centre x sits at ``(2x + 1) / size - 1`` = ``(q + 16) / (16 size) - 1``. For a power-of-two
    ``size`` (512) this is exact in float32 and so is grid_sample's unnormalisation, so its bilinear weights
    are OpenCV's exactly.
    """
    scale = (1 << (_INTER_BITS - 1)) * size
    half = 1 << (_INTER_BITS - 1)
    return np.stack([(qx + half) / scale - 1, (qy + half) / scale - 1], axis=1).astype(np.float32)


def channels_first(crops: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) or (B, S, S, 3) -> (B, 3, S, S) (a permuted view for channels-last input)."""
    if crops.ndim != 4 or 3 not in (crops.shape[1], crops.shape[-1]) or crops.shape[1] == crops.shape[-1]:
        raise ValueError(f"expected crops (B, 3, S, S) or (B, S, S, 3), got {tuple(crops.shape)}")
    return crops.permute(0, 3, 1, 2) if crops.shape[-1] == 3 else crops


def to_uint8_levels(values: torch.Tensor) -> torch.Tensor:
    """uint8, or float in [0, 1] -> float32 uint8 levels; floats as the reference parses its output:
    ``trunc(clip(x, 0, 1) * 255)``.
    """
    if values.dtype == torch.uint8:
        return values.float()
    return torch.floor(values.float().clamp(0, 1) * 255)


@dataclass(frozen=True, eq=False)
class TorchPasteBack:
    """Batched paste-back on one device, restricted to the P pixels where the mask is non-zero.

    image: (H, W, 3) uint8; pixels: (P,) flat indices into H*W; grid: (1, 1, P, 2) float32 sampling grid
    into the crop (see :func:`sampling_grid`); mask: (P,) float32; background: (3, P) float32, the constant
    half of the blend ``(1 - mask) * image`` at those pixels (the same float32 values the reference
    computes every frame).
    """

    image: torch.Tensor
    pixels: torch.Tensor
    grid: torch.Tensor
    mask: torch.Tensor
    background: torch.Tensor

    @classmethod
    def from_prepared(cls, prepared: PasteBack, device: torch.device | str = "cpu") -> TorchPasteBack:
        """Move the per-source state to ``device``; the sampling grid is computed once on the CPU."""
        # The mask template's channels are identical, so one channel decides where a frame shows.
        ys, xs = np.nonzero(prepared.mask[:, :, 0] > 0)
        qx, qy = opencv_source_positions(prepared.M_c2o, xs.astype(np.float64), ys.astype(np.float64))
        grid = sampling_grid(qx, qy, prepared.crop_size)
        mask = prepared.mask[ys, xs, 0]
        return cls(
            image=torch.from_numpy(np.ascontiguousarray(prepared.image)).to(device),
            pixels=torch.from_numpy(ys * prepared.image.shape[1] + xs).to(device),
            grid=torch.from_numpy(grid).reshape(1, 1, -1, 2).to(device),
            mask=torch.from_numpy(mask).to(device),
            background=torch.from_numpy((1 - mask) * prepared.image[ys, xs].T).to(device),
        )

    def __call__(self, crops: torch.Tensor) -> torch.Tensor:
        """crops (B, 3, S, S) or (B, S, S, 3), uint8 or float in [0, 1], on this device -> (B, H, W, 3) uint8."""
        levels = to_uint8_levels(channels_first(crops))
        batch = levels.shape[0]
        blend = F.grid_sample(levels, self.grid.expand(batch, -1, -1, -1), mode="bilinear",
                              padding_mode="zeros", align_corners=False)[:, :, 0]
        # The samples are exact multiples of 1/1024 (see sampling_grid): floor(x + 0.5) is OpenCV's uint8
        # rounding. In place, as the temporaries are large. The blend lies in [0, 255] (a convex
        # combination), so the uint8 cast is the reference's clip-and-truncate.
        blend.add_(0.5).floor_().mul_(self.mask).add_(self.background)
        height, width = self.image.shape[:2]
        out = self.image.reshape(1, height * width, 3).repeat(batch, 1, 1)
        out.index_copy_(1, self.pixels, blend.to(torch.uint8).transpose(1, 2).contiguous())
        return out.reshape(batch, height, width, 3)
