"""ConvNeXt-V2 trunk, the backbone of LivePortrait's motion extractor M (spec liveportrait.md §2.0, §2.2).

Attribute names (``downsample_layers``, ``stages``, ``dwconv``, ``pwconv1``, ``grn``, ...) are the
official state-dict names. Drop-path is inactive at inference, so blocks have no stochastic part.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: LayerNorm epsilon of every ConvNeXt norm (the stem, the downsamplers, the blocks, the final norm).
LAYER_NORM_EPS = 1e-6
#: Added to the mean GRN response so an all-zero feature map does not divide by zero.
GRN_EPS = 1e-6


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over the channel dim of (B, C, H, W), per pixel, with affine ``weight``/``bias`` of size C."""

    def __init__(self, channels: int, eps: float = LAYER_NORM_EPS) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Written out (biased variance, divide by sqrt) in the reference's order so float32 results
        # match it closely; F.layer_norm would need two permutes and rounds differently.
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class GRN(nn.Module):
    """Global response normalisation on channels-last (B, H, W, C): x + gamma * (x * N) + beta.

    N is each channel's spatial L2 norm divided by the mean of those norms over channels.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, channels))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial_norm = torch.linalg.vector_norm(x, ord=2, dim=(1, 2), keepdim=True)
        response = spatial_norm / (spatial_norm.mean(dim=-1, keepdim=True) + GRN_EPS)
        return self.gamma * (x * response) + self.beta + x


class Block(nn.Module):
    """ConvNeXt-V2 block: (B, C, H, W) -> (B, C, H, W).

    Depthwise 7x7 conv -> LayerNorm -> Linear C->4C -> GELU (erf) -> GRN -> Linear 4C->C, plus identity.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.grn = GRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The pointwise part runs channels-last so the 1x1 convs are plain Linear layers (official keys).
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.grn(F.gelu(self.pwconv1(self.norm(y)))))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtV2(nn.Module):
    """ConvNeXt-V2 trunk: image (B, in_chans, H, W) -> pooled, normalised features (B, dims[-1]).

    Stem conv k4 s4 + LayerNorm, then per stage i > 0 a LayerNorm + conv k2 s2 downsampler; stage i
    holds ``depths[i]`` blocks of width ``dims[i]``. The output is the global spatial mean of the last
    stage followed by ``norm`` (LayerNorm). H and W should be multiples of 32 (4 * 2^3).
    """

    def __init__(self, in_chans: int, depths: Sequence[int], dims: Sequence[int]) -> None:
        super().__init__()
        if len(depths) != len(dims):
            raise ValueError(f"ConvNeXtV2: depths {tuple(depths)} and dims {tuple(dims)} differ in length")
        stem = nn.Sequential(nn.Conv2d(in_chans, dims[0], kernel_size=4, stride=4), ChannelsFirstLayerNorm(dims[0]))
        downsamplers = [
            nn.Sequential(ChannelsFirstLayerNorm(dims[i]), nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2))
            for i in range(len(dims) - 1)
        ]
        self.downsample_layers = nn.ModuleList([stem, *downsamplers])
        self.stages = nn.ModuleList(
            nn.Sequential(*(Block(dim) for _ in range(depth))) for depth, dim in zip(depths, dims, strict=True)
        )
        self.norm = nn.LayerNorm(dims[-1], eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for downsample, stage in zip(self.downsample_layers, self.stages, strict=True):
            x = stage(downsample(x))
        return self.norm(x.mean(dim=(-2, -1)))
