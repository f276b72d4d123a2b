"""Warping module W of LivePortrait: source feature volume + keypoints -> warped 2-D feature map.

The dense motion network predicts a 3-D flow and an occlusion map; the source volume is sampled
along the flow, its depth folded into the channels, and two 2-D convs (``third``, ``fourth``) give
the feature map the SPADE generator decodes (spec liveportrait.md §2.3, steps 9-11). Attribute names
are the official state-dict names (``dense_motion_network``, ``third``, ``fourth``).

For batched rendering, :meth:`WarpingNetwork.prepare_source` does the source-only work once and
:meth:`WarpingNetwork.drive` renders any number of driving keypoint sets against it; a source batch
of 1 is broadcast over the frames without copying the volume. ``forward`` is the official call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model.render.blocks import SameBlock2d
from model.render.config import WarpingConfig
from model.render.dense_motion import DenseMotionNetwork, DenseMotionSource, broadcast_batch


@dataclass(frozen=True)
class WarpSource:
    """Everything W needs from one source: the volume f_s (Bs, C, D, H, W) and the dense-motion source state."""

    feature_3d: torch.Tensor
    motion: DenseMotionSource


class WarpingNetwork(nn.Module):
    """W: f_s (B, reshape_channel, D, H, W), x_s, x_d (B, K, 3) -> warped features.

    Returns ``out`` (B, block_expansion * 2^num_down_blocks, H, W), ``deformation`` (B, D, H, W, 3) and,
    when the config estimates it, ``occlusion_map`` (B, 1, H, W). Officially 32x16x64x64 -> 256x64x64.
    Keypoints are in the normalised [-1, 1] cube of the volume (x right, y down, z in).
    """

    def __init__(self, config: WarpingConfig) -> None:
        super().__init__()
        if config.max_features != config.reshape_channel * config.dense_motion.reshape_depth:
            raise ValueError(
                f"WarpingConfig: max_features {config.max_features} must equal reshape_channel "
                f"{config.reshape_channel} * dense_motion.reshape_depth {config.dense_motion.reshape_depth} "
                "(the warped volume's depth is folded into the channels)"
            )
        self.dense_motion_network = DenseMotionNetwork(config)
        width = config.block_expansion * 2**config.num_down_blocks
        self.third = SameBlock2d(config.max_features, width, lrelu=True)
        self.fourth = nn.Conv2d(width, width, kernel_size=1)

    def prepare_source(self, feature_3d: torch.Tensor, kp_source: torch.Tensor) -> WarpSource:
        """Source-only work, to cache per source image: f_s (Bs, C, D, H, W), x_s (Bs, K, 3)."""
        return WarpSource(feature_3d, self.dense_motion_network.prepare_source(feature_3d, kp_source))

    def drive(self, source: WarpSource, kp_driving: torch.Tensor) -> dict[str, torch.Tensor]:
        """Warp a prepared source with driving keypoints x_d (B, K, 3); the source batch is 1 or B."""
        motion = self.dense_motion_network.drive(source.motion, kp_driving)
        deformation = motion["deformation"]
        batch = broadcast_batch(source.feature_3d.shape[0], deformation.shape[0])
        volume = source.feature_3d.expand(batch, -1, -1, -1, -1)
        warped = F.grid_sample(volume, deformation, mode="bilinear", padding_mode="zeros", align_corners=False)
        _, channels, depth, height, width = warped.shape
        # Channel index c * D + d: the depth axis folds into the channels.
        out = self.fourth(self.third(warped.view(batch, channels * depth, height, width)))
        if "occlusion_map" in motion:
            out = out * motion["occlusion_map"]
        return {**motion, "out": out}

    def forward(
        self, feature_3d: torch.Tensor, *, kp_source: torch.Tensor, kp_driving: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The official call, f_s (B, C, D, H, W), x_s, x_d (B, K, 3); see :meth:`drive` for the outputs.

        Keypoints are keyword-only: the official signature orders them (driving, source), so a
        positional call written for it would silently swap them.
        """
        return self.drive(self.prepare_source(feature_3d, kp_source), kp_driving)
