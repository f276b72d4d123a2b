"""The motion a talking-head video shows, frame by frame, as LivePortrait's motion extractor M reads it.

Serves the head pose of a driving video (``--pose-from``) and the training data (``model.train prepare``): each
frame, resampled to the motion's fps, is cropped as a source image is (same crop code and settings, the largest
face) and read by M in batches. Frames where no face is found take the reading of the nearest earlier one (the
first face's, before it); the eye and lip ratios need the 203-point landmarks, NaN where they are missing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.face.detector import FaceDetector
from model.face.source_crop import CropOptions, NoFaceError, crop_source
from model.face.video_frames import DrivingVideoError, video_frames
from model.motion.sequence import MotionSequence, pose_sequence
from model.render.keypoints import eye_close_ratio, lip_close_ratio
from model.render.motion_extractor import MotionExtractor, kp_info
from model.render.renderer import source_tensor

#: Frames per motion-extractor call.
BATCH = 16


@dataclass(frozen=True)
class VideoMotion:
    """Per-frame readings: ``motion`` (expression, scale, translation, angles in degrees, at the video's
    resampled fps); eye_ratio (n, 2) and lip_ratio (n, 1) float32 (NaN without landmarks); face (n,) bool: a face
    was found on the frame (else the reading is a neighbour's)."""

    motion: MotionSequence
    eye_ratio: np.ndarray
    lip_ratio: np.ndarray
    face: np.ndarray

    def __len__(self) -> int:
        return len(self.motion)


@torch.inference_mode()
def read_video_motion(
    video: str | Path, motion_extractor: MotionExtractor, detector: FaceDetector, mode: str,
    crop: CropOptions, fps: float, max_frames: int,
) -> VideoMotion:
    """:class:`VideoMotion` of up to ``max_frames`` frames of ``video`` at ``fps``. Raises
    :class:`DrivingVideoError` for an unusable video or one where no frame shows a face."""
    device = next(motion_extractor.parameters()).device
    crop = dataclasses.replace(crop, box=None, face_index=0)
    readings: list[dict[str, np.ndarray]] = []
    crops: list[np.ndarray] = []
    ratios: list[np.ndarray] = []
    found: list[bool] = []
    last: np.ndarray | None = None
    last_ratio = np.full(3, np.nan, np.float32)
    leading = 0  # frames before the first face

    def flush() -> None:
        info = kp_info(motion_extractor(torch.cat([source_tensor(c, device) for c in crops])))
        readings.append({k: v.float().cpu().numpy() for k, v in info.items()})
        crops.clear()

    for frame in video_frames(video, fps, max_frames):
        try:
            cropped = crop_source(frame, mode, crop, detector)
        except NoFaceError:
            cropped = None
        if cropped is not None:
            last = cropped.crop_256
            if cropped.landmarks is not None:
                marks = cropped.landmarks[None]
                last_ratio = np.concatenate([eye_close_ratio(marks)[0], lip_close_ratio(marks)[0]]).astype(np.float32)
            else:
                last_ratio = np.full(3, np.nan, np.float32)
            crops.extend([last] * (leading + 1))
            ratios.extend([last_ratio] * (leading + 1))
            found.extend([False] * leading + [True])
            leading = 0
        elif last is None:
            leading += 1
            continue
        else:
            crops.append(last)
            ratios.append(last_ratio)
            found.append(False)
        if len(crops) >= BATCH:
            flush()
    if last is None:
        raise DrivingVideoError(f"{Path(video).name}: no face found in the video; give a video where the face is "
                                "visible")
    if crops:
        flush()
    info = {k: np.concatenate([r[k] for r in readings]) for k in readings[0]}
    pose = np.concatenate([info[k] for k in ("scale", "t", "pitch", "yaw", "roll")], axis=1)
    ratio = np.stack(ratios)
    return VideoMotion(pose_sequence(info["exp"], pose, fps), eye_ratio=ratio[:, :2], lip_ratio=ratio[:, 2:],
                       face=np.array(found))
