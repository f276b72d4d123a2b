"""SPADE generator G of LivePortrait: warped feature map -> RGB image in [0, 1].

A 3x3 conv, six SPADE residual blocks at the input resolution, two upsampling SPADE residual
blocks, then a conv + PixelShuffle(2) and a sigmoid (spec liveportrait.md §2.0, §2.4). The warped
feature map is also the SPADE segmentation map of every block. Attribute names are the official
state-dict names (``fc``, ``G_middle_{i}``, ``up_0``, ``up_1``, ``conv_img.0``).

The official convs of the residual blocks use ``torch.nn.utils.spectral_norm``; in eval mode that
divides ``weight_orig`` by sigma = u . (W v) with the stored u, v (no power iteration) on every
call. :class:`SpectralNormConv2d` keeps the checkpoint layout but folds sigma once, when weights
are loaded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.render.config import SpadeConfig

#: Output channels of ``up_1``: ``SPADEDecoder.out_channels``, not set in models.yaml (official default).
OUT_CHANNELS = 64
#: Number of ``G_middle_{i}`` blocks (fixed in the official code).
NUM_MIDDLE_BLOCKS = 6
#: Hidden width of every SPADE's shared conv (fixed in the official code).
SPADE_HIDDEN = 128
#: Negative slope of the LeakyReLUs of G.
LEAKY_SLOPE = 0.2


class SpectralNormConv2d(nn.Module):
    """Conv2d whose weight is ``weight_orig / sigma``, sigma = u . (weight_orig.reshape(out, -1) @ v).

    State-dict entries are those of ``spectral_norm(nn.Conv2d(...))``: ``bias`` (if any),
    ``weight_orig`` (parameter), ``weight_u`` (out,) and ``weight_v`` (in * k * k,) (buffers). The
    effective ``weight`` is a non-persistent buffer refreshed after every ``load_state_dict``, so
    forward is a plain conv. Inference only: u and v are never updated (PyTorch's eval semantics,
    whatever the module's training flag), and no gradient reaches ``weight_orig``; call
    :meth:`fold` after changing ``weight_orig``, ``weight_u`` or ``weight_v`` in place.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> None:
        super().__init__()
        self.padding = kernel_size // 2
        template = nn.Conv2d(in_channels, out_channels, kernel_size, padding=self.padding, bias=bias)
        # Registration order bias, weight_orig, weight_u, weight_v is the official state-dict order.
        self.bias = template.bias
        self.weight_orig = template.weight
        # Any unit v with u = normalise(W v) gives sigma > 0, so an unloaded module folds to finite
        # weights; real u, v always come from the checkpoint.
        v = F.normalize(torch.randn(in_channels * kernel_size * kernel_size), dim=0)
        self.register_buffer("weight_u", F.normalize(template.weight.detach().flatten(1) @ v, dim=0))
        self.register_buffer("weight_v", v)
        self.register_buffer("weight", None, persistent=False)
        self.register_load_state_dict_post_hook(_fold_after_load)
        self.fold()

    @torch.no_grad()
    def fold(self) -> None:
        """Recompute the effective weight from ``weight_orig``, ``weight_u``, ``weight_v`` (same ops as PyTorch)."""
        weight_orig = self.weight_orig.detach()
        sigma = torch.dot(self.weight_u, torch.mv(weight_orig.reshape(weight_orig.shape[0], -1), self.weight_v))
        # Assigned, not copied into: it follows weight_orig's device and dtype after an assign=True load.
        self.weight = weight_orig / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in, H, W) -> (B, out, H, W)."""
        return F.conv2d(x, self.weight, self.bias, padding=self.padding)


def _fold_after_load(module: SpectralNormConv2d, _incompatible_keys: object) -> None:
    """``load_state_dict`` post hook: a new ``weight_orig`` / u / v needs a new effective weight."""
    module.fold()


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: IN(x) * (1 + gamma(seg)) + beta(seg), x (B, C, H, W).

    ``segmap`` (B, label_channels, H, W) must already be at x's resolution (the block resizes it once).
    """

    def __init__(self, channels: int, label_channels: int) -> None:
        super().__init__()
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, SPADE_HIDDEN, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(SPADE_HIDDEN, channels, 3, padding=1)
        self.mlp_beta = nn.Conv2d(SPADE_HIDDEN, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        normalized = F.instance_norm(x, eps=1e-5)
        hidden = self.mlp_shared(segmap)
        return normalized * (1 + self.mlp_gamma(hidden)) + self.mlp_beta(hidden)


class SPADEResnetBlock(nn.Module):
    """(B, fin, H, W), segmap (B, label_channels, h, w) -> (B, fout, H, W).

    Main path SPADE -> LeakyReLU -> conv3x3 (twice, via min(fin, fout) channels); the shortcut is
    the identity when fin == fout, else SPADE -> conv1x1 without bias.
    """

    def __init__(self, fin: int, fout: int, label_channels: int) -> None:
        super().__init__()
        middle = min(fin, fout)
        self.conv_0 = SpectralNormConv2d(fin, middle, 3)
        self.conv_1 = SpectralNormConv2d(middle, fout, 3)
        self.conv_s = SpectralNormConv2d(fin, fout, 1, bias=False) if fin != fout else None
        self.norm_0 = SPADE(fin, label_channels)
        self.norm_1 = SPADE(middle, label_channels)
        self.norm_s = SPADE(fin, label_channels) if fin != fout else None

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        # Nearest resizing replicates pixels, so one resize serves all three SPADEs (the official
        # code resizes inside each SPADE, with the same result).
        if segmap.shape[2:] != x.shape[2:]:
            segmap = F.interpolate(segmap, size=x.shape[2:], mode="nearest")
        shortcut = x if self.conv_s is None else self.conv_s(self.norm_s(x, segmap))
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, segmap), LEAKY_SLOPE))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, segmap), LEAKY_SLOPE))
        return shortcut + dx


class SPADEDecoder(nn.Module):
    """G: feature (B, C, H, W) -> image (B, 3, 8H, 8W) RGB in [0, 1] (4H x 4W with ``upscale`` 1).

    C = min(max_features, block_expansion * 2^num_down_blocks) (officially 256 channels at 64x64).
    Two nearest x2 upsamplings give 4H x 4W; with ``upscale`` 2 a conv to 12 channels and a
    PixelShuffle(2) double that (officially 512x512), with ``upscale`` 1 a conv to 3 channels keeps it.
    """

    def __init__(self, config: SpadeConfig) -> None:
        super().__init__()
        if config.num_down_blocks < 1:
            raise ValueError("SpadeConfig: num_down_blocks must be >= 1 (it sets the input channels)")
        if config.upscale not in (1, 2):
            raise ValueError(f"SpadeConfig: upscale {config.upscale} is not supported (1 or 2)")
        channels = min(config.max_features, config.block_expansion * 2**config.num_down_blocks)
        self.fc = nn.Conv2d(channels, 2 * channels, 3, padding=1)
        for i in range(NUM_MIDDLE_BLOCKS):
            self.add_module(f"G_middle_{i}", SPADEResnetBlock(2 * channels, 2 * channels, channels))
        self.up_0 = SPADEResnetBlock(2 * channels, channels, channels)
        self.up_1 = SPADEResnetBlock(channels, OUT_CHANNELS, channels)
        if config.upscale == 1:
            self.conv_img = nn.Conv2d(OUT_CHANNELS, 3, 3, padding=1)
        else:
            self.conv_img = nn.Sequential(nn.Conv2d(OUT_CHANNELS, 3 * 2 * 2, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        """feature (B, C, H, W) -> image (B, 3, H', W') in [0, 1]."""
        x = self.fc(feature)
        for i in range(NUM_MIDDLE_BLOCKS):
            x = self.get_submodule(f"G_middle_{i}")(x, feature)
        x = self.up_0(F.interpolate(x, scale_factor=2, mode="nearest"), feature)
        x = self.up_1(F.interpolate(x, scale_factor=2, mode="nearest"), feature)
        return torch.sigmoid(self.conv_img(F.leaky_relu(x, LEAKY_SLOPE)))
