"""Face detectors behind one protocol: the official ONNX models, or the weight-free OpenCV cascades.

``build_detector`` picks one: the ONNX detector (SCRFD ``det_10g`` + ``2d106det`` + ``landmark.onnx``) when
those files resolve, else the Haar cascade; in animal mode X-Pose (``xpose.pth``) when it resolves, else the
cat cascade. Faces come sorted large to small (box area), as the official cropper orders them before taking
the first one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from model.face.cascade import CAT_CASCADE, CAT_PARAMS, HUMAN_CASCADE, HUMAN_PARAMS, HaarCascade
from model.face.faces import Face, FaceDetector, sort_large_to_small
from model.face.landmarks import Landmark106, Landmark203
from model.face.scrfd import DET_THRESH, Scrfd
from model.face.xpose.detect import xpose_detector
from model.weights import WeightPaths

PREFERENCES = ("auto", "onnx", "cascade")
T = TypeVar("T")


class OnnxFaceDetector:
    """SCRFD boxes; 106 landmarks for every face when ``2d106det`` is given; 203 on request (``add_landmarks``).

    The 203-point refiner runs only for the face that is used, since it is the expensive model.
    """

    def __init__(self, scrfd: Scrfd, lmk106: Landmark106 | None = None, lmk203: Landmark203 | None = None) -> None:
        self.scrfd, self.lmk106, self.lmk203 = scrfd, lmk106, lmk203
        models = ["SCRFD det_10g", *(["2d106det"] if lmk106 else []), *(["landmark.onnx"] if lmk203 else [])]
        self.name = " + ".join(models)

    def detect_faces(self, image_rgb: np.ndarray) -> list[Face]:
        found = self.scrfd.detect(image_rgb)
        faces = [
            Face(box=found.boxes[i], score=float(found.scores[i]), detector="scrfd", kps=found.kps[i])
            for i in range(len(found))
        ]
        if self.lmk106 is not None:
            faces = [dataclasses.replace(f, lmk106=self.lmk106(image_rgb, f.box)) for f in faces]
        return sort_large_to_small(faces)

    def add_landmarks(self, image_rgb: np.ndarray, face: Face) -> Face:
        if face.lmk106 is None and self.lmk106 is not None:
            face = dataclasses.replace(face, lmk106=self.lmk106(image_rgb, face.box))
        if face.lmk203 is None and face.lmk106 is not None and self.lmk203 is not None:
            face = dataclasses.replace(face, lmk203=self.lmk203(image_rgb, face.lmk106))
        return face


class CascadeFaceDetector:
    """OpenCV Haar cascade boxes (no landmarks): people (frontal faces) or cats."""

    def __init__(self, animal: bool = False) -> None:
        filename, params = (CAT_CASCADE, CAT_PARAMS) if animal else (HUMAN_CASCADE, HUMAN_PARAMS)
        self.cascade = HaarCascade(filename, params)
        self.label = "haar-cat" if animal else "haar"
        self.name = f"OpenCV Haar cascade ({filename})"

    def detect_faces(self, image_rgb: np.ndarray) -> list[Face]:
        boxes, scores = self.cascade.detect(image_rgb)
        faces = [Face(box=b, score=float(s), detector=self.label) for b, s in zip(boxes, scores, strict=True)]
        return sort_large_to_small(faces)

    def add_landmarks(self, image_rgb: np.ndarray, face: Face) -> Face:
        return face


class MemoDetector:
    """A detector that remembers its last few answers, keyed by the image's content (and the face's box).

    The crop preview, the up-front checks of a request and the run itself crop the same image, often with
    other crop settings: detection and landmarks then run once per image. Safe to share between threads.
    """

    def __init__(self, detector: FaceDetector, capacity: int = 8) -> None:
        self.detector = detector
        self.name = detector.name
        self.capacity = capacity
        self._answers: OrderedDict[tuple[str, bytes], object] = OrderedDict()
        self._lock = threading.Lock()

    def _memo(self, key: tuple[str, bytes], compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            self._answers[key] = value
            while len(self._answers) > self.capacity:
                self._answers.popitem(last=False)
        return value

    @staticmethod
    def _digest(image_rgb: np.ndarray, extra: bytes = b"") -> bytes:
        image = np.ascontiguousarray(image_rgb)
        return hashlib.sha256(str(image.shape).encode() + extra + memoryview(image).cast("B")).digest()

    def detect_faces(self, image_rgb: np.ndarray) -> list[Face]:
        return list(self._memo(("faces", self._digest(image_rgb)), lambda: self.detector.detect_faces(image_rgb)))

    def add_landmarks(self, image_rgb: np.ndarray, face: Face) -> Face:
        box = np.asarray(face.box, np.float32).tobytes() + face.detector.encode()
        return self._memo(("landmarks", self._digest(image_rgb, box)),
                          lambda: self.detector.add_landmarks(image_rgb, face))


def build_detector(
    weight_paths: WeightPaths | None = None,
    prefer: str = "auto",
    animal: bool = False,
    det_thresh: float = DET_THRESH,
    providers: list[str] | None = None,
    animal_points: int = 9,
    device: str | None = None,
) -> FaceDetector:
    """The detector to use.

    ``prefer``: "auto" (ONNX when ``det_10g`` resolves in ``weight_paths``, else the cascade), "onnx" (error
    if ``det_10g`` is missing) or "cascade". ``2d106det`` and ``landmark`` are used when present. Animal mode:
    X-Pose with ``animal_points`` (9 or 68) keypoints when ``xpose.pth`` and its prompt embeddings resolve
    (unless ``prefer`` is "cascade"), else the cat cascade, whose name then says why X-Pose is not used.
    ``providers``: onnxruntime providers (default: CPU only when ``device`` is "cpu", else CUDA when available);
    ``device``: X-Pose's torch device (default: CUDA when available, else CPU).
    """
    if providers is None and device == "cpu":
        providers = ["CPUExecutionProvider"]
    if prefer not in PREFERENCES:
        raise ValueError(f"unknown detector preference {prefer!r}; choose one of {PREFERENCES}")
    if animal:
        reason = "cascade requested"
        if prefer != "cascade":
            found, reason = xpose_detector(weight_paths, animal_points, device)
            if found is not None:
                return found
        fallback = CascadeFaceDetector(animal=True)
        fallback.name = f"{fallback.name}, weight-free fallback (X-Pose not used: {reason})"
        return fallback

    def paths(key: str):
        return weight_paths.get(key) if weight_paths is not None else None

    det_path = paths("det_10g")
    if prefer == "onnx" and det_path is None:
        raise FileNotFoundError("the ONNX face detector needs det_10g.onnx (insightface/models/buffalo_l/)")
    if prefer == "cascade" or det_path is None:
        return CascadeFaceDetector()
    path106, path203 = paths("2d106det"), paths("landmark")
    return OnnxFaceDetector(
        Scrfd(det_path, threshold=det_thresh, providers=providers),
        Landmark106(path106, providers) if path106 else None,
        Landmark203(path203, providers) if path203 else None,
    )
