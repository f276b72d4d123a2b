"""X-Pose as a :class:`~model.face.detector.FaceDetector` for animal mode, and a keypoint preview drawing."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import torch

from model.cache import default_cache_dir
from model.face.faces import Face
from model.face.xpose.checkpoint import load_xpose
from model.face.xpose.model import TextPrompt
from model.face.xpose.prompts import KEYPOINT_SETS, clip_embeddings, read_embeddings, write_embeddings
from model.face.xpose.runner import XPoseRunner
from model.weights import CLIP, CLIP_TEXT_FILES, WeightPaths, fetch_file

log = logging.getLogger(__name__)

#: The official default (``animal_face_9``); 68 is ``animal_face_68``.
DEFAULT_POINTS = 9


class XPoseDetector:
    """One animal face per image: the official runner's pick, with its keypoints as ``Face.animal_lmk``."""

    def __init__(self, runner: XPoseRunner) -> None:
        self.runner = runner
        self.name = f"X-Pose (UniPose Swin-T, {runner.num_points} animal-face keypoints)"

    def detect_faces(self, image_rgb: np.ndarray) -> list[Face]:
        found = self.runner(image_rgb)
        if found is None:
            return []
        return [Face(box=found.box.astype(np.float32), score=found.score, detector="xpose",
                     animal_lmk=found.landmarks)]

    def add_landmarks(self, image_rgb: np.ndarray, face: Face) -> Face:
        return face


def embedding_cache_path(points: int) -> Path:
    """Where prompt embeddings computed from CLIP are kept: the project's cache folder, keyed by the CLIP
    revision."""
    return default_cache_dir() / "xpose_prompts" / f"clip_{CLIP.revision[:12]}_{points}.pkl"


def prompt_embeddings(paths: WeightPaths, points: int) -> TextPrompt | None:
    """The prompt, from the first of: LivePortrait's embedding file (in the weights folder, or in the source
    tree of the JoyVASA or LivePortrait checkout that holds it), the embeddings computed earlier and cached,
    or computed now from the CLIP text encoder (fetched only then) and cached. None when none is available."""
    official = paths.get(f"xpose.embedding_{points}")
    if official is not None:
        return read_embeddings(official)
    cached = embedding_cache_path(points)
    if not cached.is_file():
        found = [fetch_file(f"clip.{name}", paths) for name in CLIP_TEXT_FILES]
        if any(p is None for p in found) or len({p.parent for p in found}) != 1:
            return None
        log.info("computing X-Pose prompt embeddings from CLIP once; cached in %s", cached)
        write_embeddings(clip_embeddings(found[0].parent, KEYPOINT_SETS[points]), cached)
    # Read back what was stored (float16, like the official files), so every run sees the same values.
    return read_embeddings(cached)


def xpose_detector(
    paths: WeightPaths | None, points: int = DEFAULT_POINTS, device: torch.device | str | None = None
) -> tuple[XPoseDetector | None, str]:
    """(the detector, "") when ``xpose.pth`` and the prompt resolve, else (None, why not).

    ``device``: None = CUDA when available, else CPU.
    """
    if points not in KEYPOINT_SETS:
        raise ValueError(f"X-Pose keypoint set must be one of {sorted(KEYPOINT_SETS)}, got {points}")
    path = paths.get("xpose") if paths is not None else None
    if path is None:
        return None, "xpose.pth not found"
    prompt = prompt_embeddings(paths, points)
    if prompt is None:
        return None, "no prompt embeddings (clip_embedding_*.pkl) and no CLIP text encoder to compute them"
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return XPoseDetector(XPoseRunner(load_xpose(path, device), prompt)), ""


def draw_keypoints(image_rgb: np.ndarray, landmarks: np.ndarray, box: np.ndarray | None = None) -> np.ndarray:
    """A copy of (H, W, 3) uint8 ``image_rgb`` with the (N, 2) keypoints as dots (eyes, nose, mouth coloured
    apart for the 9-point set) and the optional (x1, y1, x2, y2) box, sized to the image."""
    out = np.ascontiguousarray(image_rgb[..., :3]).copy()
    radius = max(2, round(min(out.shape[:2]) / 150))
    if box is not None:
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), (255, 255, 0), max(1, radius // 2))
    nine = {0: (0, 255, 0), 1: (0, 255, 0), 2: (0, 255, 0), 3: (0, 255, 0), 4: (255, 128, 0)}
    for i, (x, y) in enumerate(np.asarray(landmarks, dtype=np.float64)):
        color = nine.get(i, (255, 0, 0)) if len(landmarks) == 9 else (255, 0, 0)
        cv2.circle(out, (round(x), round(y)), radius, color, -1, lineType=cv2.LINE_AA)
    return out
