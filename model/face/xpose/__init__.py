"""X-Pose (UniPose, Swin-T) animal-face keypoints in plain PyTorch, loading the official ``xpose.pth``.

Parts: ``config`` (sizes), ``swin`` (backbone), ``position`` (sine encodings), ``deform_attn`` (multi-scale
deformable attention with ``grid_sample``), ``fusion`` / ``encoder`` / ``decoder`` / ``transformer`` (the
deformable transformer with two-stage query selection and keypoint groups), ``heads``, ``model`` (UniPose),
``prompts`` (keypoint names, CLIP embeddings), ``checkpoint`` (safe loading), ``runner`` (official pre- and
post-processing), ``detect`` (animal-mode face detector, keypoint preview).
"""

from model.face.xpose.checkpoint import load_xpose
from model.face.xpose.config import FULL, SMALL, XPoseConfig
from model.face.xpose.detect import XPoseDetector, draw_keypoints, xpose_detector
from model.face.xpose.model import TextPrompt, UniPose, XPoseOutput
from model.face.xpose.runner import Detection, XPoseRunner, preprocess, select_instance

__all__ = [
    "FULL",
    "SMALL",
    "Detection",
    "TextPrompt",
    "UniPose",
    "XPoseConfig",
    "XPoseDetector",
    "XPoseOutput",
    "XPoseRunner",
    "draw_keypoints",
    "load_xpose",
    "preprocess",
    "select_instance",
    "xpose_detector",
]
