"""Motion extractor M of LivePortrait: canonical keypoints, head pose, translation, expression, scale.

A ConvNeXt-V2 trunk (tiny by default) and seven linear heads on its pooled 768-d feature (spec
liveportrait.md §2.2). The official module wraps the network as ``detector``, so every state-dict key
starts with ``detector.``. :func:`kp_info` turns the raw heads into the refined values the rest of the
pipeline uses, as ``LivePortraitWrapper.get_kp_info`` does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.render.config import MotionExtractorConfig
from model.render.convnextv2 import ConvNeXtV2

#: Head-pose bin i stands for DEGREES_PER_BIN * i - BIN_OFFSET_DEGREES, so the 66 official bins span
#: [-97.5, 97.5] degrees.
DEGREES_PER_BIN = 3
BIN_OFFSET_DEGREES = 97.5

HEAD_NAMES = ("kp", "scale", "pitch", "yaw", "roll", "t", "exp")


class KeypointDetector(ConvNeXtV2):
    """The ConvNeXt-V2 trunk with the seven heads (official class ``ConvNeXtV2`` of ``convnextv2.py``)."""

    def __init__(self, config: MotionExtractorConfig) -> None:
        super().__init__(config.in_chans, config.depths, config.dims)
        width = config.dims[-1]
        # Declared in the official order, so state_dict() lists keys as the checkpoint does.
        self.fc_kp = nn.Linear(width, 3 * config.num_kp)
        self.fc_scale = nn.Linear(width, 1)
        self.fc_pitch = nn.Linear(width, config.num_bins)
        self.fc_yaw = nn.Linear(width, config.num_bins)
        self.fc_roll = nn.Linear(width, config.num_bins)
        self.fc_t = nn.Linear(width, 3)
        self.fc_exp = nn.Linear(width, 3 * config.num_kp)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = super().forward(x)
        return {name: getattr(self, f"fc_{name}")(features) for name in HEAD_NAMES}


class MotionExtractor(nn.Module):
    """M: image (B, 3, H, W) RGB in [0, 1], no mean/std normalisation (256x256 officially) -> raw heads.

    Returns a dict of float tensors: ``kp`` (B, 3K) canonical keypoints, ``exp`` (B, 3K) expression
    offsets, ``pitch``/``yaw``/``roll`` (B, num_bins) angle-bin logits, ``t`` (B, 3) translation,
    ``scale`` (B, 1). K = ``config.num_kp``.
    """

    def __init__(self, config: MotionExtractorConfig) -> None:
        super().__init__()
        self.config = config
        self.detector = KeypointDetector(config)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.detector(image)


def headpose_bins_to_degrees(logits: torch.Tensor) -> torch.Tensor:
    """Angle-bin logits (B, num_bins) -> degrees (B, 1): ``3 * E[bin index] - 97.5`` under softmax(logits).

    Computed as the official ``headpose_pred_to_degree`` (softmax over dim 1, sum of p * index, then
    * 3 - 97.5) so float32 results match it.
    """
    index = torch.arange(logits.shape[1], dtype=logits.dtype, device=logits.device)
    expected = torch.sum(F.softmax(logits, dim=1) * index, dim=1, keepdim=True)
    return expected * DEGREES_PER_BIN - BIN_OFFSET_DEGREES


def kp_info(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Refine the raw heads of :class:`MotionExtractor` as ``LivePortraitWrapper.get_kp_info`` does.

    Returns ``pitch``/``yaw``/``roll`` (B, 1) in degrees, ``kp`` and ``exp`` (B, K, 3), ``t`` (B, 3)
    (tz included; the keypoint transform ignores it) and ``scale`` (B, 1).
    """
    batch = raw["kp"].shape[0]
    return {
        "pitch": headpose_bins_to_degrees(raw["pitch"]),
        "yaw": headpose_bins_to_degrees(raw["yaw"]),
        "roll": headpose_bins_to_degrees(raw["roll"]),
        "kp": raw["kp"].reshape(batch, -1, 3),
        "exp": raw["exp"].reshape(batch, -1, 3),
        "t": raw["t"],
        "scale": raw["scale"],
    }
