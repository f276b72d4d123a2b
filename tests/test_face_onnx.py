"""The ONNX face path with tiny stand-in models (official input/output names and shapes, known outputs)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")

from model.face.crop import crop_image
from model.face.detector import OnnxFaceDetector, build_detector
from model.face.landmarks import Landmark106, Landmark203, box_alignment, landmark106_input
from model.face.scrfd import Scrfd, anchor_centers, letterbox, nms, to_blob
from model.face.session import default_providers
from model.face.source_crop import CropOptions, NoFaceError, crop_source
from model.weights import WeightPaths
from tests.face_fixtures import TinyFace, layout_106, write_2d106det, write_det_10g, write_landmark
from tests.golden import load_case

# Canvas pixels of the 512 letterbox. The second face overlaps the first with a lower score (NMS removes
# it), the third is a separate smaller face, the fourth is below the 0.15 threshold.
MAIN = TinyFace(stride=16, row=11, col=15, anchor=1, score=0.9, box=(190.0, 110.0, 290.0, 240.0))
DUPLICATE = TinyFace(stride=16, row=11, col=16, anchor=0, score=0.6, box=(194.0, 114.0, 292.0, 244.0))
SMALL = TinyFace(stride=8, row=40, col=50, anchor=0, score=0.5, box=(380.0, 300.0, 420.0, 350.0))
FAINT = TinyFace(stride=32, row=3, col=3, anchor=1, score=0.1, box=(60.0, 60.0, 140.0, 140.0))
IMAGE_HW = (720, 1280)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_face")
    net_out = load_case("h_crop.npz")["lmkrun_net_out"]
    return WeightPaths(mode="human", source="test", paths={
        "det_10g": write_det_10g(root / "det_10g.onnx", [MAIN, DUPLICATE, SMALL, FAINT]),
        "2d106det": write_2d106det(root / "2d106det.onnx", layout_106()),
        "landmark": write_landmark(root / "landmark.onnx", net_out),
    })


def test_letterbox_top_left_and_blob() -> None:
    image = np.full((*IMAGE_HW, 3), 200, np.uint8)
    canvas, scale = letterbox(image, 512)
    assert scale == pytest.approx(288 / 720)
    assert (canvas[:288, :512] == 200).all() and (canvas[288:] == 0).all()
    tall, tall_scale = letterbox(np.full((1000, 300, 3), 7, np.uint8), 512)
    assert tall_scale == pytest.approx(512 / 1000) and (tall[:, :153] == 7).all() and (tall[:, 153:] == 0).all()
    blob = to_blob(canvas)
    assert blob.shape == (1, 3, 512, 512) and blob.dtype == np.float32
    assert blob[0, :, 0, 0] == pytest.approx((200 - 127.5) / 128) and blob[0, 0, -1, -1] == pytest.approx(-127.5 / 128)


def test_anchor_centres_order() -> None:
    centers = anchor_centers(2, 3, 16)
    expected = [[0, 0], [0, 0], [16, 0], [16, 0], [32, 0], [32, 0], [0, 16], [0, 16]]
    np.testing.assert_array_equal(centers[:8], expected)


def test_nms_uses_inclusive_areas() -> None:
    boxes = np.array([[0, 0, 9, 9], [20, 20, 30, 30], [0, 0, 9, 3.5]], np.float32)
    # Box 2 inside box 0: IoU 4.5 * 10 / (10 * 10) = 0.45 > 0.4 with pixel-inclusive areas (w + 1), so it
    # goes; exclusive areas would give 3.5 * 9 / (9 * 9) = 0.39 and keep it.
    np.testing.assert_array_equal(nms(boxes, np.array([0.9, 0.7, 0.8], np.float32)), [0, 1])
    np.testing.assert_array_equal(nms(boxes[:2], np.array([0.1, 0.2], np.float32)), [1, 0])


def test_scrfd_decodes_known_faces(tiny_models) -> None:
    scrfd = Scrfd(tiny_models["det_10g"], providers=["CPUExecutionProvider"])
    found = scrfd.detect(np.zeros((*IMAGE_HW, 3), np.uint8))
    scale = 288 / 720
    assert len(found) == 2
    np.testing.assert_allclose(found.scores, [MAIN.score, SMALL.score], rtol=1e-6)
    np.testing.assert_allclose(found.boxes, np.array([MAIN.box, SMALL.box]) / scale, rtol=1e-5)
    np.testing.assert_allclose(found.kps[0], MAIN.kps / scale, rtol=1e-5)
    # A lower threshold lets the faint face through; a high one leaves nothing.
    assert len(Scrfd(tiny_models["det_10g"], threshold=0.05).detect(np.zeros((*IMAGE_HW, 3), np.uint8))) == 3
    none = Scrfd(tiny_models["det_10g"], threshold=0.95).detect(np.zeros((*IMAGE_HW, 3), np.uint8))
    assert len(none) == 0 and none.boxes.shape == (0, 4) and none.kps.shape == (0, 5, 2)


def test_no_face_error_names_the_onnx_detector(tiny_models) -> None:
    detector = build_detector(tiny_models, det_thresh=0.95)
    with pytest.raises(NoFaceError, match="SCRFD det_10g"):
        crop_source(np.zeros((*IMAGE_HW, 3), np.uint8), "human", CropOptions(), detector)


def test_landmark106_maps_back_through_the_box(tiny_models) -> None:
    model = Landmark106(tiny_models["2d106det"])
    assert model.size == 192
    box = np.array([400, 200, 600, 460], np.float32)
    lmk = model(np.zeros((*IMAGE_HW, 3), np.uint8), box)
    half = 1.5 * 260 / 2
    expected = np.array([500, 330]) + layout_106() * half
    np.testing.assert_allclose(lmk, expected, atol=1e-3)


def test_landmark106_input_is_raw_rgb() -> None:
    image = np.zeros((*IMAGE_HW, 3), np.uint8)
    image[..., 0], image[..., 2] = 250, 10
    box = np.array([400, 200, 600, 460], np.float32)
    blob, matrix = landmark106_input(image, box, 192)
    assert blob.shape == (1, 3, 192, 192) and blob.dtype == np.float32
    assert blob[0, 0, 96, 96] == 250 and blob[0, 2, 96, 96] == 10
    np.testing.assert_allclose(matrix @ [500, 330, 1], [96, 96])
    np.testing.assert_allclose(box_alignment(box, 192)[0, 0], 192 / (1.5 * 260))


@pytest.mark.golden
def test_refiner_model_reproduces_golden_landmarks(tiny_models) -> None:
    case = load_case("h_crop.npz")
    lmk203 = Landmark203(tiny_models["landmark"])(case["image"], case["lmk106"])
    case.assert_close("lmkrun_lmk", lmk203, rtol=1e-6, atol=1e-4)


def test_onnx_detector_and_source_crop(tiny_models) -> None:
    detector = build_detector(tiny_models)
    assert isinstance(detector, OnnxFaceDetector)
    assert detector.name == "SCRFD det_10g + 2d106det + landmark.onnx"
    image = np.random.default_rng(0).integers(0, 255, (*IMAGE_HW, 3), dtype=np.uint8)
    faces = detector.detect_faces(image)
    assert [f.detector for f in faces] == ["scrfd", "scrfd"] and faces[0].area > faces[1].area
    assert faces[0].lmk106.shape == (106, 2) and faces[0].lmk203 is None

    result = crop_source(image, "human", CropOptions(), detector)
    assert result.method == "landmarks" and result.landmarks.shape == (203, 2)
    expected = crop_image(image, faces[0].lmk106, scale=2.3, vy_ratio=-0.125)
    np.testing.assert_array_equal(result.M_c2o, expected.M_c2o)
    np.testing.assert_array_equal(result.crop_512, expected.image)
    np.testing.assert_array_equal(result.crop_256, expected.area_resize())
    assert "203 landmarks" in result.note and "1 of 2" in result.note

    second = crop_source(image, "human", CropOptions(face_index=1), detector)
    np.testing.assert_array_equal(second.M_c2o, crop_image(image, faces[1].lmk106, scale=2.3).M_c2o)

    # A manual box is cropped as given (face_index does not apply); the landmarks are computed inside it.
    manual = crop_source(image, "human", CropOptions(box=(100, 100, 200, 260), face_index=1), detector)
    assert manual.method == "box" and manual.face.detector == "manual" and manual.landmarks.shape == (203, 2)
    np.testing.assert_allclose(manual.face.lmk106, [200, 230] + layout_106() * 1.5 * 260 / 2, atol=1e-3)


def test_onnx_detector_without_landmark_models(tiny_models) -> None:
    paths = WeightPaths(mode="human", source="test", paths={"det_10g": tiny_models["det_10g"]})
    detector = build_detector(paths)
    assert detector.name == "SCRFD det_10g"
    result = crop_source(np.zeros((*IMAGE_HW, 3), np.uint8), "human", CropOptions(), detector)
    assert result.method == "box" and result.landmarks is None
    assert "no landmarks" in result.note


def test_build_detector_choices(tiny_models) -> None:
    assert build_detector(None).name.startswith("OpenCV Haar cascade (haarcascade_frontalface_alt2")
    assert build_detector(tiny_models, prefer="cascade").name.startswith("OpenCV Haar")
    assert "frontalcatface" in build_detector(tiny_models, animal=True).name
    with pytest.raises(FileNotFoundError, match="det_10g"):
        build_detector(None, prefer="onnx")
    with pytest.raises(ValueError, match="preference"):
        build_detector(None, prefer="gpu")
    assert default_providers()[-1] == "CPUExecutionProvider"
