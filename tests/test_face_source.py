"""The source crop stage: the weight-free cascade, overrides, fallbacks and errors (no ONNX models)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from model.face.cascade import CAT_CASCADE, HaarCascade
from model.face.crop import transform_points
from model.face.detector import CascadeFaceDetector
from model.face.faces import Face, select_face
from model.face.source_crop import CropOptions, NoFaceError, crop_source
from tests.face_fixtures import image_with_faces

# Two drawn faces (x, y, size): a large one and a small one, in a 1280x720 image.
FACES = [(200, 100, 320), (850, 300, 200)]


def crop_center(m_c2o: np.ndarray) -> np.ndarray:
    return transform_points(np.array([[256.0, 256.0]], np.float32), m_c2o)[0]


class FixedDetector:
    """A detector stand-in that reports given boxes (x1, y1, x2, y2)."""

    name = "fixed boxes"

    def __init__(self, boxes: list[tuple[float, float, float, float]]) -> None:
        self.boxes = boxes

    def detect_faces(self, image_rgb: np.ndarray) -> list[Face]:
        return [Face(box=np.array(b, np.float32), score=1.0, detector="fixed") for b in self.boxes]

    def add_landmarks(self, image_rgb: np.ndarray, face: Face) -> Face:
        return face


@pytest.fixture(scope="module")
def two_faces() -> np.ndarray:
    return image_with_faces(720, 1280, FACES)


def test_cascade_finds_drawn_faces_largest_first(two_faces) -> None:
    faces = CascadeFaceDetector().detect_faces(two_faces)
    assert len(faces) == 2
    for face, (x, y, size) in zip(faces, FACES, strict=True):
        x1, y1, x2, y2 = face.box
        assert face.detector == "haar" and face.score > 0
        np.testing.assert_allclose([(x1 + x2) / 2, (y1 + y2) / 2], [x + size / 2, y + size / 2], atol=0.12 * size)
        assert 0.6 * size < x2 - x1 < 1.1 * size


def test_cascade_default_source_crop(two_faces) -> None:
    result = crop_source(two_faces, "human")
    assert result.method == "box" and result.landmarks is None and result.face.detector == "haar"
    assert result.crop_512.shape == (512, 512, 3) and result.crop_256.shape == (256, 256, 3)
    assert result.image.shape == two_faces.shape
    x1, y1, x2, y2 = result.face.box
    side = max(x2 - x1, y2 - y1) * 2.3
    np.testing.assert_allclose(crop_center(result.M_c2o), [(x1 + x2) / 2, (y1 + y2) / 2 - 0.125 * side], atol=1e-2)
    assert "1 of 2" in result.note and "Haar" in result.note


def test_face_index_picks_the_smaller_face(two_faces) -> None:
    result = crop_source(two_faces, "human", CropOptions(face_index=1))
    x, _, size = FACES[1]
    x1, _, x2, _ = result.face.box
    assert abs((x1 + x2) / 2 - (x + size / 2)) < 0.12 * size
    with pytest.raises(ValueError, match="face 2 requested, but 2 faces were found; choose 0 or 1"):
        crop_source(two_faces, "human", CropOptions(face_index=2))


def test_scale_and_offsets() -> None:
    image = np.zeros((720, 1280, 3), np.uint8)
    detector = FixedDetector([(500, 200, 700, 450)])
    options = CropOptions(scale=1.8, x_offset=0.1, y_offset=0.05)
    result = crop_source(image, "human", options, detector)
    side = 250 * 1.8
    np.testing.assert_allclose(result.M_c2o[0, 0], side / 512, rtol=1e-6)
    np.testing.assert_allclose(crop_center(result.M_c2o), [600 + 0.1 * side, 325 + 0.05 * side], atol=1e-2)


def test_manual_box_is_in_original_pixels() -> None:
    # 2560x1440 is clamped to 1280x720: the manual box is scaled with it.
    image = np.zeros((1440, 2560, 3), np.uint8)
    options = CropOptions(box=(1000, 400, 200, 300), scale=1.0, y_offset=0.0)
    result = crop_source(image, "human", options, FixedDetector([]))
    assert result.image.shape == (720, 1280, 3) and result.method == "box" and result.face.detector == "manual"
    np.testing.assert_allclose(result.face.box, [500, 200, 600, 350])
    np.testing.assert_allclose(crop_center(result.M_c2o), [550, 275], atol=1e-2)
    np.testing.assert_allclose(result.M_c2o[0, 0], 150 / 512, rtol=1e-6)
    assert "manual box" in result.note


def test_no_crop_resizes_the_whole_image(two_faces) -> None:
    result = crop_source(two_faces, "human", CropOptions(enabled=False))
    assert result.method == "none"
    np.testing.assert_array_equal(result.crop_256, cv2.resize(two_faces, (256, 256)))
    np.testing.assert_array_equal(result.crop_512, cv2.resize(two_faces, (512, 512)))
    assert result.face is not None and "auto-crop off" in result.note
    # Without a face, no-crop still works (no landmarks).
    blank = crop_source(np.zeros((300, 400, 3), np.uint8), "human", CropOptions(enabled=False))
    assert blank.face is None and blank.landmarks is None and "no face found" in blank.note


def test_no_face_error_suggests_what_to_do() -> None:
    with pytest.raises(NoFaceError) as info:
        crop_source(np.full((300, 400, 3), 128, np.uint8), "human")
    message = str(info.value)
    for hint in ("animal mode", "lower crop scale", "manual face box", "auto-crop off", "Haar cascade"):
        assert hint in message


def test_animal_mode_falls_back_to_a_centred_crop() -> None:
    image = np.full((400, 600, 3), 128, np.uint8)
    result = crop_source(image, "animal")
    assert result.method == "centred" and result.face is None and "centred crop" in result.note
    # Default options crop exactly the central square of side min(H, W).
    np.testing.assert_allclose(crop_center(result.M_c2o), [300, 200], atol=1e-2)
    np.testing.assert_allclose(result.M_c2o[0, 0], 400 / 512, rtol=1e-5)
    zoomed = crop_source(image, "animal", CropOptions(scale=1.15, x_offset=0.1))
    np.testing.assert_allclose(zoomed.M_c2o[0, 0], 200 / 512, rtol=1e-5)
    np.testing.assert_allclose(crop_center(zoomed.M_c2o), [300 + 0.1 * 200, 200 - 0.125 * 200 + 0.125 * 400],
                               atol=1e-2)


def test_animal_mode_uses_the_cat_cascade(monkeypatch) -> None:
    detector = CascadeFaceDetector(animal=True)
    assert CAT_CASCADE in detector.name
    # Scanning at most 640 wide, the cascade sees a half-size copy of this 1280-wide image: boxes come back x2.
    detector.cascade.params = dataclasses.replace(detector.cascade.params, max_side=640)
    scanned = []

    class FakeClassifier:
        def detectMultiScale2(self, gray, **kwargs):
            scanned.append(gray.shape)
            return np.array([[100, 50, 60, 60]]), np.array([4])

    monkeypatch.setattr(detector.cascade, "classifier", FakeClassifier())
    result = crop_source(np.zeros((720, 1280, 3), np.uint8), "animal", CropOptions(scale=1.0, y_offset=0), detector)
    assert result.method == "box" and result.face.detector == "haar-cat"
    np.testing.assert_allclose(result.face.box, [200, 100, 320, 220])
    np.testing.assert_allclose(crop_center(result.M_c2o), [260, 160], atol=1e-2)
    assert scanned == [(360, 640)]


def test_real_cat_cascade_loads_and_runs(two_faces) -> None:
    boxes, scores = HaarCascade(CAT_CASCADE).detect(two_faces)
    assert boxes.shape[1:] == (4,) and boxes.dtype == np.float32 and len(scores) == len(boxes)


def test_gray_and_rgba_sources(two_faces) -> None:
    gray = cv2.cvtColor(two_faces, cv2.COLOR_RGB2GRAY)
    rgba = np.concatenate([two_faces, np.full((*two_faces.shape[:2], 1), 255, np.uint8)], axis=2)
    for image in (gray, rgba):
        result = crop_source(image, "human")
        assert result.image.shape == (720, 1280, 3) and result.method == "box"


def test_bad_options_and_modes() -> None:
    with pytest.raises(ValueError, match="scale"):
        CropOptions(scale=0)
    with pytest.raises(ValueError, match="needs cropping"):
        CropOptions(enabled=False, box=(0, 0, 10, 10))
    with pytest.raises(ValueError, match="positive width and height"):
        CropOptions(box=(0, 0, 0, 10))
    with pytest.raises(ValueError, match="mode"):
        crop_source(np.zeros((64, 64, 3), np.uint8), "robot")
    with pytest.raises(ValueError, match="no face was found"):
        select_face([], 0)
