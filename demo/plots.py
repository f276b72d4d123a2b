"""The motion plot next to the video: head pose and mouth opening over time, before and after the controls."""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.motion.sequence import MotionSequence
from model.pipeline import AnimateOptions
from model.render.keypoints import LIP_KEYPOINTS


def mouth_opening(motion: MotionSequence) -> np.ndarray:
    """(n,) how far the lip keypoints' expression is from the first frame's (the generated mouth motion)."""
    lips = motion.exp[:, list(LIP_KEYPOINTS)]
    return np.linalg.norm((lips - lips[:1]).reshape(len(motion), -1), axis=1)


def motion_frame(motion: MotionSequence, options: AnimateOptions) -> pd.DataFrame:
    """Long-form rows (seconds, value, series) for a line plot: pitch, yaw and roll in degrees and the mouth
    opening (x100), as generated and after the pose and lip scales."""
    composition = options.effective_composition
    after = motion.with_pose_scaled(composition.pose_scale)
    seconds = np.arange(len(motion)) / motion.fps
    series = {
        "pitch": motion.pitch[:, 0], "yaw": motion.yaw[:, 0], "roll": motion.roll[:, 0],
        "pitch (controlled)": after.pitch[:, 0], "yaw (controlled)": after.yaw[:, 0],
        "roll (controlled)": after.roll[:, 0],
        "mouth x100": 100 * mouth_opening(motion),
        "mouth x100 (controlled)": 100 * composition.lip_scale * mouth_opening(motion),
    }
    return pd.DataFrame({
        "seconds": np.tile(seconds, len(series)),
        "value": np.concatenate(list(series.values())).astype(float),
        "series": np.repeat(list(series), len(motion)),
    })
