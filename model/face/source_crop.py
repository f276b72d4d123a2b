"""The source-image stage: clamp the image, find the face, crop it for the networks (human and animal modes).

Human mode follows the official cropper: a 512 crop around the 106 landmarks of the largest face (scale,
vertical offset, rotation), the 203-point landmarks for the eye/lip ratios. Without the ONNX models the
Haar cascade's box gives an upright crop. Animal mode: X-Pose's 9 (or 68) keypoints with the official
animal crop (same scale and offset defaults, rotated), else the cat-face cascade's box, else a centred crop.
A manual face box overrides detection in both modes; cropping can be switched off (the whole image
squashed to 256, as the official ``flag_do_crop=False``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.face.crop import CROP_SIZE, NETWORK_SIZE, Crop, crop_from_box, crop_image, whole_image_crop
from model.face.detector import CascadeFaceDetector
from model.face.faces import Face, FaceDetector, select_face
from model.face.image import check_image, limited_size, resize_to_limit
from model.validation import Range, check_number
from model.weights import MODES

#: Accepted crop settings (the official defaults lie inside; the demo's sliders use the same bounds).
SCALE_RANGE = Range(1.0, 4.0)
OFFSET_RANGE = Range(-0.5, 0.5)
FACE_INDEX_RANGE = Range(0, 99)


class NoFaceError(RuntimeError):
    """No face was found where one is needed to crop."""


@dataclass(frozen=True)
class CropOptions:
    """User crop settings (defaults: the official web demo).

    enabled: crop around the face (False: the whole image resized to 256, aspect not kept);
    scale: crop side / face size (smaller = the face fills more of the crop; the demo allows 1.8-4.0);
    x_offset / y_offset: crop centre shift as a fraction of the crop side, along the face's x (right) and
    y (down) axes (the official "crop x" is ignored by its code; here it works);
    face_index: which face when several are found, 0 = largest;
    rotate: level the face's roll (landmark crops only);
    box: manual face box (x, y, w, h) in pixels of the image as given; it replaces detection and is cropped
    like a detector box (scale 1 and offsets 0 crop exactly its bounding square).
    """

    enabled: bool = True
    scale: float = 2.3
    x_offset: float = 0.0
    y_offset: float = -0.125
    face_index: int = 0
    rotate: bool = True
    box: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        check_number("crop scale", self.scale, SCALE_RANGE)
        check_number("horizontal crop offset", self.x_offset, OFFSET_RANGE)
        check_number("vertical crop offset", self.y_offset, OFFSET_RANGE)
        check_number("face index", self.face_index, FACE_INDEX_RANGE, integer=True)
        if self.box is not None:
            if not self.enabled:
                raise ValueError("a manual face box needs cropping enabled")
            if len(self.box) != 4:
                raise ValueError(f"the manual face box must be 4 numbers x, y, w, h in pixels; got {len(self.box)}")
            for name, value in zip(("x", "y", "width", "height"), self.box, strict=True):
                check_number(f"manual face box {name}", value)
            if not (self.box[2] > 0 and self.box[3] > 0):
                raise ValueError(f"the manual face box needs a positive width and height; got {self.box[2]:g} x "
                                 f"{self.box[3]:g}")


DEFAULT_OPTIONS = CropOptions()


@dataclass(frozen=True, eq=False)
class SourceCrop:
    """The cropped source.

    image: (H, W, 3) uint8 RGB, the source after ``resize_to_limit`` (paste-back target, output size);
    crop_512: (512, 512, 3) uint8; crop_256: (256, 256, 3) uint8, the network input;
    M_c2o: (3, 3) float32 mapping 512-crop pixels to ``image`` pixels;
    landmarks: (203, 2) float32 in ``image`` pixels (for the eye/lip ratios), None when the refiner did not
    run (the 106 points, when computed, are in ``face.lmk106``);
    face: the face used (None for centred / uncropped); method: "landmarks", "box", "centred" or "none";
    note: a human-readable account of what was found and used.
    """

    image: np.ndarray
    crop_512: np.ndarray
    crop_256: np.ndarray
    M_c2o: np.ndarray
    landmarks: np.ndarray | None
    face: Face | None
    method: str
    note: str


def no_face_message(detector_name: str) -> str:
    return (
        f"No face found in the image (detector: {detector_name}). Options: use animal mode for animals, "
        "cartoons or stylised faces; use a lower crop scale; give a manual face box (x, y, w, h); or turn "
        "auto-crop off to animate the whole image."
    )


def manual_face(box: tuple[float, float, float, float], original_hw: tuple[int, int]) -> Face:
    """A manual box (x, y, w, h) given in pixels of the original image, as a :class:`Face` in pixels of the
    image clamped by ``resize_to_limit``. A box mostly outside the image is refused (ValueError).
    """
    height, width = original_hw
    x, y, w, h = box
    inside_w = max(0.0, min(x + w, width) - max(x, 0.0))
    inside_h = max(0.0, min(y + h, height) - max(y, 0.0))
    if inside_w * inside_h < 0.5 * w * h:
        raise ValueError(
            f"the manual face box ({x:g}, {y:g}, {w:g}, {h:g}) lies mostly outside the {width}x{height} image; "
            "give x, y, width, height in pixels of the image, with the box around the face"
        )
    new_h, new_w = limited_size(height, width)
    x, y, w, h = box
    corners = np.array([x * new_w / width, y * new_h / height, (x + w) * new_w / width, (y + h) * new_h / height])
    return Face(box=corners.astype(np.float32), score=1.0, detector="manual")


def centred_face_box(height: int, width: int) -> np.ndarray:
    """A virtual face box for the centred crop: with default options it crops the central square of side
    min(H, W); other scales and offsets change it as they would change a face crop.
    """
    side = min(height, width) / DEFAULT_OPTIONS.scale
    cx, cy = width / 2, height / 2 - DEFAULT_OPTIONS.y_offset * min(height, width)
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], dtype=np.float32)


def _face_crop(image: np.ndarray, face: Face, options: CropOptions) -> tuple[Crop, str]:
    points = face.lmk106 if face.lmk106 is not None else face.animal_lmk
    if points is not None and face.detector != "manual":
        crop = crop_image(image, points, scale=options.scale, vx_ratio=options.x_offset,
                          vy_ratio=options.y_offset, rotate=options.rotate)
        return crop, "landmarks"
    return crop_from_box(image, face.box, scale=options.scale, x_offset=options.x_offset,
                         y_offset=options.y_offset), "box"


def _finish(image: np.ndarray, crop: Crop, method: str, face: Face | None, note: str) -> SourceCrop:
    # Uncropped sources go straight to 256 (bilinear), as the official code does; crops use INTER_AREA.
    crop_256 = cv2.resize(image, (NETWORK_SIZE, NETWORK_SIZE)) if method == "none" else crop.area_resize()
    return SourceCrop(image=image, crop_512=crop.image, crop_256=crop_256, M_c2o=crop.M_c2o,
                      landmarks=None if face is None else face.lmk203, face=face, method=method, note=note)


def _describe(face: Face, index: int, count: int, detector_name: str) -> str:
    found = "given as a manual box" if face.detector == "manual" else (
        f"{index + 1} of {count} (largest first) found by {detector_name}")
    if face.lmk203 is not None:
        return f"face {found}; 203 landmarks"
    if face.animal_lmk is not None:
        return f"face {found}; {len(face.animal_lmk)} X-Pose keypoints"
    marks = "106 landmarks" if face.lmk106 is not None else "no landmarks"
    return f"face {found}; {marks} (no 203-point landmarks: eye/lip ratios and lip normalisation unavailable)"


def crop_source(
    image_rgb: np.ndarray,
    mode: str = "human",
    options: CropOptions = DEFAULT_OPTIONS,
    detector: FaceDetector | None = None,
) -> SourceCrop:
    """Clamp ``image_rgb`` (H, W) / (H, W, 3|4) uint8 with ``resize_to_limit`` and crop its face.

    ``detector`` defaults to the cascade for the mode (pass ``build_detector(...)`` for the ONNX models).
    Human mode raises :class:`NoFaceError` when cropping is on and no face is found; animal mode falls
    back to a centred crop. With cropping off, faces are still looked for (human landmarks feed lip
    normalisation) but the crop is the whole image.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
    original = check_image(image_rgb)
    image = resize_to_limit(original)
    detector = detector or CascadeFaceDetector(animal=mode == "animal")

    if options.box is not None:
        faces, index = [manual_face(options.box, original.shape[:2])], 0
    else:
        faces, index = detector.detect_faces(image), options.face_index
    face = detector.add_landmarks(image, select_face(faces, index)) if faces else None

    found = _describe(face, index, len(faces), detector.name) if face else "no face found"
    if not options.enabled:
        note = f"auto-crop off: whole image resized to 256x256; {found}"
        return _finish(image, whole_image_crop(image, CROP_SIZE), "none", face, note)
    if face is not None:
        crop, method = _face_crop(image, face, options)
        return _finish(image, crop, method, face, f"{found}; {method} crop")
    if mode == "human":
        raise NoFaceError(no_face_message(detector.name))
    crop = crop_from_box(image, centred_face_box(*image.shape[:2]), scale=options.scale,
                         x_offset=options.x_offset, y_offset=options.y_offset)
    return _finish(image, crop, "centred", None, f"no animal face found by {detector.name}; centred crop")
