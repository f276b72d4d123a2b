"""LivePortrait's face crop: two anchor points from landmarks, a rotated square around the face, a similarity warp.

Coordinates are OpenCV pixel coordinates: x to the right, y down, pixel centres at integer positions (no
half-pixel shift). Landmarks are (N, 2) float32 (x, y). Matrices are 3x3 float32 homogeneous affines acting on
column vectors ``[x, y, 1]``; ``M_o2c`` maps original-image pixels to crop pixels, ``M_c2o`` is its inverse.

The arithmetic follows the reference's dtypes step by step (float32 arrays; the matrix entries in float64, as
numpy 1.x promoted the reference's scalar expressions, then one float32 cast), so that the matrices, and
hence OpenCV's fixed-point warps, come out bit-identical to the golden case h.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Crop side of the source image in pixels; the generator's output lines up with this space.
CROP_SIZE = 512
#: Side of the network input (appearance and motion extractors).
NETWORK_SIZE = 256


def _mean(pts: np.ndarray, rows: list[int]) -> np.ndarray:
    return np.mean(pts[rows], axis=0)


def _as_points(pts: np.ndarray) -> np.ndarray:
    """Landmarks as float32, or float64 when given so (X-Pose's animal landmarks are float64 officially)."""
    pts = np.asarray(pts)
    return pts.astype(np.float64 if pts.dtype == np.float64 else np.float32, copy=False)


def parse_pt2(pts: np.ndarray) -> np.ndarray:
    """Eye centre and lip centre (2, 2) from a landmark layout (float32, float64 for float64 input),
    which fixes the face's roll.

    Layouts by point count: 106 (insightface 2d106det), 203 (LivePortrait's refiner), 68 (iBUG), 9 (X-Pose
    ``animal_face``: right eye right/left, left eye right/left, nose, lip right/left, upper/lower lip) and
    5 (SCRFD: left eye, right eye, nose, mouth left, mouth right).
    """
    pts = _as_points(pts)
    count = pts.shape[0]
    if count == 106:
        eyes = (_mean(pts, [33, 35, 40, 39]), _mean(pts, [87, 89, 94, 93]))
        lip = (pts[52] + pts[61]) / 2
    elif count == 203:
        eyes = (_mean(pts, [0, 6, 12, 18]), _mean(pts, [24, 30, 36, 42]))
        lip = (pts[48] + pts[66]) / 2
    elif count == 68:
        eyes = (_mean(pts, [36, 39]), _mean(pts, [42, 45]))
        lip = (pts[48] + pts[54]) / 2
    elif count == 9:
        eyes = ((pts[2] + pts[3]) / 2, (pts[0] + pts[1]) / 2)
        lip = (pts[5] + pts[6]) / 2
    elif count == 5:
        eyes = (pts[0], pts[1])
        lip = (pts[3] + pts[4]) / 2
    else:
        raise ValueError(f"no anchor layout for {count} landmarks (expected 106, 203, 68, 9 or 5)")
    return np.stack([(eyes[0] + eyes[1]) / 2, lip], axis=0)


@dataclass(frozen=True, eq=False)
class Rect:
    """A rotated square in image pixels.

    center: (2,) float32 (x, y); size: (2,) float32 side lengths (equal: the crop is square);
    angle: rotation of the face's x axis in radians, positive clockwise on screen (image y points down).
    """

    center: np.ndarray
    size: np.ndarray
    angle: float


def parse_rect_from_landmark(
    pts: np.ndarray, scale: float = 2.3, vx_ratio: float = 0.0, vy_ratio: float = -0.125
) -> Rect:
    """The face square of LivePortrait: side = scale * (landmark extent in the face frame).

    The face frame has u_y from eye centre to lip centre and u_x perpendicular to it. The centre is moved by
    ``vx_ratio`` / ``vy_ratio`` times the side along u_x / u_y (negative vy: towards the forehead).
    float64 landmarks are kept in float64 where the reference does (u_x is float32 in both cases).
    """
    pts = _as_points(pts)
    pt2 = parse_pt2(pts)
    uy = pt2[1] - pt2[0]
    length = np.linalg.norm(uy)
    # A degenerate eye-lip vector (points on top of each other) falls back to an upright face.
    uy = np.array([0, 1], dtype=pts.dtype) if length <= 1e-3 else uy / length
    ux = np.array((uy[1], -uy[0]), dtype=np.float32)
    angle = math.acos(ux[0])
    if ux[1] < 0:
        angle = -angle

    center0 = np.mean(pts, axis=0)
    rotated = (pts - center0) @ np.array([ux, uy]).T
    low, high = np.min(rotated, axis=0), np.max(rotated, axis=0)
    center1 = (low + high) / 2
    side = np.max(high - low)
    size = np.array([side, side], dtype=pts.dtype) * pts.dtype.type(scale)
    # float32 u_x times a float64 scalar stayed float32 under numpy 1.x casting, which the reference ran on.
    center = center0 + ux * np.float32(center1[0]) + uy * center1[1]
    center = center + ux * (vx_ratio * size) + uy * (vy_ratio * size)
    return Rect(center=center, size=size, angle=angle)


def rect_from_box(box: np.ndarray, scale: float, x_offset: float, y_offset: float) -> Rect:
    """An upright square around a detector box (x1, y1, x2, y2) in pixels, sized and shifted like a landmark rect.

    The box plays the role of the landmark extent: side = scale * max(w, h), centre = box centre moved by
    ``x_offset`` / ``y_offset`` times the side.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * scale
    center = np.array([(x1 + x2) / 2 + x_offset * side, (y1 + y2) / 2 + y_offset * side], dtype=np.float32)
    return Rect(center=center, size=np.array([side, side], dtype=np.float32), angle=0.0)


def similarity_o2c(rect: Rect, dsize: int) -> np.ndarray:
    """(3, 3) float32 matrix mapping image pixels into a ``dsize`` crop whose centre is ``rect.center``."""
    if not rect.size[0] > 0:
        raise ValueError(f"cannot crop a square of side {rect.size[0]} (landmarks or box without extent)")
    s = dsize / float(rect.size[0])
    cos, sin = math.cos(rect.angle), math.sin(rect.angle)
    cx, cy = float(rect.center[0]), float(rect.center[1])
    half = dsize / 2
    return np.array(
        [
            [s * cos, s * sin, half - s * (cos * cx + sin * cy)],
            [-s * sin, s * cos, half - s * (-sin * cx + cos * cy)],
            [0, 0, 1],
        ],
        dtype=np.float32,
    )


def transform_points(pts: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply the affine part of a (2, 3) or (3, 3) matrix to (N, 2) points."""
    return pts @ matrix[:2, :2].T + matrix[:2, 2]


def warp_affine(image: np.ndarray, matrix: np.ndarray, dsize: tuple[int, int]) -> np.ndarray:
    """``cv2.warpAffine`` bilinear with a black border; ``dsize`` is (width, height); matrix maps src to dst."""
    return cv2.warpAffine(image, np.ascontiguousarray(matrix[:2]), dsize, flags=cv2.INTER_LINEAR)


@dataclass(frozen=True, eq=False)
class Crop:
    """A square crop of an image.

    image: (dsize, dsize, C) uint8; M_o2c / M_c2o: (3, 3) float32 (image <-> crop pixels);
    points: the landmarks it was made from, in crop pixels (N, 2) float32, or None for box-based crops.
    """

    image: np.ndarray
    M_o2c: np.ndarray
    M_c2o: np.ndarray
    points: np.ndarray | None = None

    def area_resize(self, size: int = NETWORK_SIZE) -> np.ndarray:
        """The crop resized to (size, size) with INTER_AREA (an exact box filter for 512 -> 256)."""
        return cv2.resize(self.image, (size, size), interpolation=cv2.INTER_AREA)


def crop_from_rect(image: np.ndarray, rect: Rect, dsize: int = CROP_SIZE, points: np.ndarray | None = None) -> Crop:
    """Warp ``image`` into a (dsize, dsize) crop of ``rect``; ``points`` (image pixels) are carried along."""
    m_o2c = similarity_o2c(rect, dsize)
    return Crop(
        image=warp_affine(image, m_o2c, (dsize, dsize)),
        M_o2c=m_o2c,
        M_c2o=np.linalg.inv(m_o2c),
        points=None if points is None else transform_points(_as_points(points), m_o2c),
    )


def crop_image(
    image: np.ndarray,
    pts: np.ndarray,
    dsize: int = CROP_SIZE,
    scale: float = 2.3,
    vx_ratio: float = 0.0,
    vy_ratio: float = -0.125,
    rotate: bool = True,
) -> Crop:
    """LivePortrait's ``crop_image`` around landmarks ``pts`` (N, 2) in image pixels.

    The official function never forwards ``vx_ratio`` (it is always 0 there); here it is applied, so the
    default 0 reproduces the official crop and other values give a real horizontal shift. Without
    ``rotate`` the square stays upright (the face's roll is kept in the crop).
    """
    rect = parse_rect_from_landmark(pts, scale=scale, vx_ratio=vx_ratio, vy_ratio=vy_ratio)
    if not rotate:
        rect = Rect(center=rect.center, size=rect.size, angle=0.0)
    return crop_from_rect(image, rect, dsize, points=pts)


def crop_from_box(
    image: np.ndarray, box: np.ndarray, dsize: int = CROP_SIZE, scale: float = 2.3,
    x_offset: float = 0.0, y_offset: float = -0.125,
) -> Crop:
    """Upright crop around a detector box (x1, y1, x2, y2) in pixels (see :func:`rect_from_box`)."""
    return crop_from_rect(image, rect_from_box(box, scale, x_offset, y_offset), dsize)


def whole_image_crop(image: np.ndarray, dsize: int) -> Crop:
    """The no-crop path: the whole image squashed to (dsize, dsize) by a bilinear ``cv2.resize``.

    The matrices describe that resize (cv2 maps dst pixel x to src ``(x + 0.5) * W / dsize - 0.5``), so
    points and paste-back still line up; the aspect ratio is not kept, as in the official code.
    """
    height, width = image.shape[:2]
    sx, sy = width / dsize, height / dsize
    m_c2o = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], dtype=np.float32)
    return Crop(image=cv2.resize(image, (dsize, dsize)), M_o2c=np.linalg.inv(m_c2o), M_c2o=m_c2o)
