"""Weight-free face detection: the Haar cascades shipped inside opencv-python-headless 4.x (BSD licence).

``haarcascade_frontalface_alt2.xml`` for people, ``haarcascade_frontalcatface_extended.xml`` for animals
(cats; it sometimes finds dogs). Boxes are (x1, y1, x2, y2) float32 in pixels of the image passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

HUMAN_CASCADE = "haarcascade_frontalface_alt2.xml"
CAT_CASCADE = "haarcascade_frontalcatface_extended.xml"
#: The larger of the two cascades' training windows (20 and 24 px): nothing smaller can be found.
MIN_WINDOW = 24


@dataclass(frozen=True)
class CascadeParams:
    """detectMultiScale settings.

    max_side: the image is scanned at most this large (long side, pixels), which bounds the time on big
    photos (the pipeline's images are at most 1280 already); min_size_fraction and min_face_px: the smallest
    face looked for is the smaller of this fraction of the image's short side and this many pixels of the
    image (so a small face among many, e.g. nine faces in a 3x3 group photo, is still found), but never below
    the cascade's own window; scale_factor: pyramid step; min_neighbors: overlapping hits needed to accept a
    face (fewer = more recall, more false hits).
    """

    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_size_fraction: float = 0.08
    min_face_px: int = 64
    max_side: int = 1280


#: Cat faces are harder for their cascade: it needs fewer neighbours to find close-ups.
HUMAN_PARAMS = CascadeParams()
CAT_PARAMS = CascadeParams(min_neighbors=3)


def cascade_path(filename: str) -> Path:
    """Where opencv-python keeps its bundled cascade ``filename``."""
    return Path(cv2.data.haarcascades) / filename


class HaarCascade:
    """``detect(image_rgb) -> (boxes (N, 4) float32, scores (N,) float32)``, largest first.

    The score is the number of overlapping raw hits merged into the box (more = more confident).
    """

    def __init__(self, filename: str = HUMAN_CASCADE, params: CascadeParams = HUMAN_PARAMS) -> None:
        path = cascade_path(filename)
        self.classifier = cv2.CascadeClassifier(str(path))
        if self.classifier.empty():
            raise FileNotFoundError(f"OpenCV cascade {path} could not be loaded (needs opencv-python-headless 4.x)")
        self.params = params

    def detect(self, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        height, width = image_rgb.shape[:2]
        factor = min(1.0, self.params.max_side / max(height, width))
        gray = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
        if factor < 1.0:
            gray = cv2.resize(gray, (round(width * factor), round(height * factor)), interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        wanted = min(min(gray.shape) * self.params.min_size_fraction, self.params.min_face_px * factor)
        min_side = max(int(wanted), MIN_WINDOW)
        rects, hits = self.classifier.detectMultiScale2(
            gray, scaleFactor=self.params.scale_factor, minNeighbors=self.params.min_neighbors,
            minSize=(min_side, min_side),
        )
        rects = np.asarray(rects, dtype=np.float32).reshape(-1, 4) / factor
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        scores = np.asarray(hits, dtype=np.float32).reshape(-1)
        order = np.argsort(-(rects[:, 2] * rects[:, 3]), kind="stable")
        return boxes[order], scores[order]
