"""Appearance feature extractor F of LivePortrait: source image -> 3-D appearance feature volume f_s.

2-D encoder (conv, ``num_down_blocks`` downsamplers, 1x1 conv), a reshape of the channels into
(reshape_channel, reshape_depth), then 3-D residual blocks (spec liveportrait.md §2.1). Attribute
names are the official state-dict names. It runs once per source image.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from model.render.blocks import DownBlock2d, ResBlock3d, SameBlock2d
from model.render.config import AppearanceConfig


class AppearanceFeatureExtractor(nn.Module):
    """F: image (B, image_channel, H, W) RGB in [0, 1] -> f_s (B, reshape_channel, reshape_depth, h, w).

    h = H / 2^num_down_blocks, w = W / 2^num_down_blocks (officially 256x256 -> 32x16x64x64).
    """

    def __init__(self, config: AppearanceConfig) -> None:
        super().__init__()
        if config.max_features != config.reshape_channel * config.reshape_depth:
            raise ValueError(
                f"AppearanceConfig: max_features {config.max_features} must equal reshape_channel "
                f"{config.reshape_channel} * reshape_depth {config.reshape_depth} (the 2-D map is reshaped to 3-D)"
            )
        self.config = config
        widths = [min(config.max_features, config.block_expansion * 2**i) for i in range(config.num_down_blocks + 1)]
        self.first = SameBlock2d(config.image_channel, widths[0])
        self.down_blocks = nn.ModuleList(DownBlock2d(cin, cout) for cin, cout in pairwise(widths))
        self.second = nn.Conv2d(widths[-1], config.max_features, kernel_size=1)
        # The official container names its children "3dr0", "3dr1", ...: these are checkpoint keys.
        self.resblocks_3d = nn.Sequential()
        for r in range(config.num_resblocks):
            self.resblocks_3d.add_module(f"3dr{r}", ResBlock3d(config.reshape_channel))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out = self.first(image)
        for block in self.down_blocks:
            out = block(out)
        out = self.second(out)
        batch, _, height, width = out.shape
        # Channel index c * reshape_depth + d becomes (c, d), as in the official view().
        volume = out.view(batch, self.config.reshape_channel, self.config.reshape_depth, height, width)
        return self.resblocks_3d(volume)
