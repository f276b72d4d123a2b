"""What a face detector returns: :class:`Face`, the :class:`FaceDetector` protocol, and choosing one face."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class FaceIndexError(ValueError):
    """The requested face index is past the faces found."""


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


def face_index_message(index: int, count: int) -> str:
    """E.g. "face 2 requested, but 2 faces were found; choose 0 or 1 (0 = the largest)"."""
    if count == 0:
        return f"face {index} requested, but no face was found"
    choices = "0" if count == 1 else ("0 or 1" if count == 2 else f"a number from 0 to {count - 1}")
    found = "1 face was" if count == 1 else f"{count} faces were"
    return f"face {index} requested, but {found} found; choose {choices} (0 = the largest)"


def select_face(faces: list[Face], index: int = 0) -> Face:
    """The ``index``-th face of a large-to-small list, with a clear error when there are fewer."""
    if not 0 <= index < len(faces):
        raise FaceIndexError(face_index_message(index, len(faces)))
    return faces[index]
