"""Face detectors behind one protocol: the official ONNX models, or the weight-free OpenCV cascades.

``build_detector`` picks one: the ONNX detector (SCRFD ``det_10g`` + ``2d106det`` + ``landmark.onnx``) when
those files resolve, else the Haar cascade; in animal mode X-Pose (``xpose.pth``) when it resolves, else the
cat cascade. Faces come sorted large to small (box area), as the official cropper orders them before taking
the first one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from model.face.cascade import CAT_CASCADE, CAT_PARAMS, HUMAN_CASCADE, HUMAN_PARAMS, HaarCascade
from model.face.landmarks import Landmark106, Landmark203
from model.face.scrfd import DET_THRESH, Scrfd
from model.weights import WeightPaths

PREFERENCES = ("auto", "onnx", "cascade")


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face, in image pixels (x right, y down).

    box: (4,) float32 (x1, y1, x2, y2); score: detector confidence (SCRFD probability, cascade hit count,
    1 for a manual box); detector: which one found it; kps: (5, 2) SCRFD eyes/nose/mouth corners;
    lmk106 / lmk203: (106, 2) / (203, 2) landmarks when the models for them are available;
    animal_lmk: (9, 2) or (68, 2) float64 X-Pose animal-face keypoints (animal mode).
    """

    box: np.ndarray
    score: float
    detector: str
    kps: np.ndarray | None = None
    lmk106: np.ndarray | None = None
    lmk203: np.ndarray | None = None
    animal_lmk: np.ndarray | None = None

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = (float(v) for v in self.box)
        return (x2 - x1) * (y2 - y1)


class FaceDetector(Protocol):
    """Finds faces; ``name`` is a human-readable description for notes and errors."""

    name: str

    def detect_faces(self, image_rgb: np.ndarray) -> list[Face]:
        """(H, W, 3) uint8 RGB -> faces, largest first (empty when none)."""
        ...

    def add_landmarks(self, image_rgb: np.ndarray, face: Face) -> Face:
        """The face with every landmark set this detector can compute for its box (unchanged if none)."""
        ...


def sort_large_to_small(faces: list[Face]) -> list[Face]:
    """By box area, descending (the official ``direction='large-small'``)."""
    return sorted(faces, key=lambda f: f.area, reverse=True)


def select_face(faces: list[Face], index: int = 0) -> Face:
    """The ``index``-th face of a large-to-small list, with a clear error when there are fewer."""
    if not 0 <= index < len(faces):
        raise IndexError(f"face index {index} requested but {len(faces)} face(s) found (index 0 = the largest)")
    return faces[index]


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
    ``providers``: onnxruntime providers (default: CUDA when available, else CPU); ``device``: X-Pose's torch
    device (default: CUDA when available, else CPU).
    """
    if prefer not in PREFERENCES:
        raise ValueError(f"unknown detector preference {prefer!r}; choose one of {PREFERENCES}")
    if animal:
        reason = "cascade requested"
        if prefer != "cascade":
            from model.face.xpose.detect import xpose_detector

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
