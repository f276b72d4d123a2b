"""Crop geometry beyond the golden case: anchor layouts, offsets, rotation, box and whole-image crops."""

from __future__ import annotations

import numpy as np
import pytest

from model.face.crop import (
    crop_from_box,
    crop_image,
    parse_pt2,
    parse_rect_from_landmark,
    transform_points,
    whole_image_crop,
)
from tests.face_fixtures import layout_106

IMAGE = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)


def rolled_face(roll_deg: float = 12.0) -> np.ndarray:
    """(106, 2) landmarks of a 200-pixel face at (330, 250), rolled clockwise by ``roll_deg``."""
    c, s = np.cos(np.radians(roll_deg)), np.sin(np.radians(roll_deg))
    return (layout_106() * 100 @ np.array([[c, s], [-s, c]]) + [330, 250]).astype(np.float32)


def crop_center(m_c2o: np.ndarray, dsize: int = 512) -> np.ndarray:
    """Image pixel at the crop's centre."""
    return transform_points(np.array([[dsize / 2, dsize / 2]], np.float32), m_c2o)[0]


def test_parse_pt2_68_and_9_point_layouts() -> None:
    pts68 = np.zeros((68, 2), np.float32)
    pts68[[36, 39]] = [[10, 20], [20, 20]]
    pts68[[42, 45]] = [[40, 20], [50, 20]]
    pts68[[48, 54]] = [[20, 60], [40, 60]]
    np.testing.assert_allclose(parse_pt2(pts68), [[30, 20], [30, 60]])

    # right eye right/left, left eye right/left, nose, lip right/left, upper lip, lower lip
    pts9 = np.array([[10, 20], [20, 20], [40, 20], [50, 22], [30, 40], [20, 60], [40, 60], [30, 55], [30, 65]],
                    np.float32)
    np.testing.assert_allclose(parse_pt2(pts9), [[30, 20.5], [30, 60]])
    with pytest.raises(ValueError, match="no anchor layout for 7"):
        parse_pt2(np.zeros((7, 2), np.float32))


def test_degenerate_landmarks_are_refused() -> None:
    with pytest.raises(ValueError, match="without extent"):
        crop_image(np.zeros((64, 64, 3), np.uint8), np.full((106, 2), 30, np.float32))


def test_x_offset_moves_along_the_face_x_axis() -> None:
    lmk = rolled_face(12.0)
    rect = parse_rect_from_landmark(lmk)
    assert np.degrees(rect.angle) == pytest.approx(12.0, abs=1e-3)
    ux = np.array([np.cos(rect.angle), np.sin(rect.angle)])
    base, shifted = crop_image(IMAGE, lmk), crop_image(IMAGE, lmk, vx_ratio=0.1)
    np.testing.assert_allclose(crop_center(shifted.M_c2o) - crop_center(base.M_c2o), 0.1 * rect.size[0] * ux,
                               atol=1e-3)
    # The crop levels the roll: the eye-to-lip direction points straight down in the crop.
    eye, lip = parse_pt2(base.points)
    assert abs(lip[0] - eye[0]) < 1e-3 and lip[1] > eye[1]


def test_rotation_off_keeps_the_crop_upright() -> None:
    lmk = rolled_face(12.0)
    upright = crop_image(IMAGE, lmk, rotate=False)
    assert upright.M_o2c[0, 1] == 0 and upright.M_o2c[1, 0] == 0
    np.testing.assert_allclose(crop_center(upright.M_c2o), parse_rect_from_landmark(lmk).center, atol=1e-3)


def test_box_crop_geometry() -> None:
    image = np.zeros((400, 600, 3), np.uint8)
    crop = crop_from_box(image, np.array([100, 50, 200, 180]), scale=2.0, x_offset=0.1, y_offset=-0.125)
    side = 130 * 2.0
    np.testing.assert_allclose(crop.M_c2o[0, 0], side / 512, rtol=1e-6)
    np.testing.assert_allclose(crop_center(crop.M_c2o), [150 + 0.1 * side, 115 - 0.125 * side], atol=1e-3)
    assert crop.image.shape == (512, 512, 3) and crop.points is None
    assert crop.area_resize().shape == (256, 256, 3)


def test_whole_image_crop_matrices_follow_cv2_resize() -> None:
    # A float ramp: cv2's uint8 resize rounds its weights coarsely, the float one shows the exact mapping.
    ramp = np.tile(np.arange(200, dtype=np.float32)[None, :, None], (100, 1, 3))
    crop = whole_image_crop(ramp, 512)
    assert crop.image.shape == (512, 512, 3)
    xs = np.arange(10, 500, 7)
    mapped = transform_points(np.stack([xs, np.full_like(xs, 256)], axis=1).astype(np.float32), crop.M_c2o)
    np.testing.assert_allclose(crop.image[256, xs, 0], mapped[:, 0], atol=1e-4)
    np.testing.assert_allclose(crop.M_o2c @ crop.M_c2o, np.eye(3), atol=1e-6)
