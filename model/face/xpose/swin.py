"""Swin Transformer backbone (the detection variant X-Pose uses: padded windows, no absolute position).

Parameter names follow the official checkpoint under ``backbone.0.``. LayerNorm everywhere (eps 1e-5), exact
GELU, no dropout (inference only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.face.xpose.config import SwinConfig

#: Added to attention logits between tokens of different shift regions (the official constant).
SHIFT_MASK_VALUE = -100.0


def relative_position_index(window: int) -> torch.Tensor:
    """(w*w, w*w) int64: index into the (2w-1)^2 bias table for every (query, key) pair of a window.

    For p = (r1, c1) and q = (r2, c2): (r1 - r2 + w - 1) * (2w - 1) + (c1 - c2 + w - 1).
    """
    rows, cols = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    rows, cols = rows.flatten(), cols.flatten()
    dr = rows[:, None] - rows[None, :] + window - 1
    dc = cols[:, None] - cols[None, :] + window - 1
    return dr * (2 * window - 1) + dc


def to_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) with H, W multiples of ``window`` -> (B * nW, window*window, C), windows row-major."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, c)


def from_windows(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`to_windows`: (B * nW, window*window, C) -> (B, H, W, C)."""
    c = windows.shape[-1]
    x = windows.view(-1, h // window, w // window, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def shift_mask(hp: int, wp: int, window: int, shift: int, device: torch.device) -> torch.Tensor:
    """(nW, w*w, w*w) additive mask for shifted windows of a padded (hp, wp) map: 0 inside a region, -100 across."""
    labels = torch.zeros(hp, wp, device=device)
    bounds = ((0, -window), (-window, -shift), (-shift, None))
    region = 0
    for r0, r1 in bounds:
        for c0, c1 in bounds:
            labels[slice(r0, r1), slice(c0, c1)] = region
            region += 1
    flat = to_windows(labels[None, :, :, None], window).squeeze(-1)
    diff = flat[:, None, :] - flat[:, :, None]
    return torch.zeros_like(diff).masked_fill(diff != 0, SHIFT_MASK_VALUE)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, with a learned relative position bias."""

    relative_position_index: torch.Tensor

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x (B*nW, N, C), mask (nW, N, N) or None -> (B*nW, N, C)."""
        bw, n, c = x.shape
        qkv = self.qkv(x).reshape(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        attn = attn + bias.permute(2, 0, 1).contiguous().unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(bw // nw, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.heads, n, n)
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(bw, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    """Pre-norm window attention (shifted by ``shift`` when > 0) and MLP, both residual."""

    def __init__(self, dim: int, heads: int, window: int, shift: int, mlp_ratio: float) -> None:
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, h: int, w: int, mask: torch.Tensor | None) -> torch.Tensor:
        """x (B, H*W, C) -> same; ``mask`` is the shift mask of the padded map (used only when shifted)."""
        b, _, c = x.shape
        win = self.window
        y = self.norm1(x).view(b, h, w, c)
        # Padded tokens are zeros after the norm and take part in attention unmasked, as officially.
        y = F.pad(y, (0, 0, 0, (win - w % win) % win, 0, (win - h % win) % win))
        hp, wp = y.shape[1:3]
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = from_windows(self.attn(to_windows(y, win), mask if self.shift else None), win, hp, wp)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + y[:, :h, :w, :].contiguous().view(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2x2 neighbourhoods to channels (zero-padding odd sizes), LayerNorm, then Linear 4C -> 2C."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """(B, H*W, C) -> (B, ceil(H/2)*ceil(W/2), 2C)."""
        b, _, c = x.shape
        x = F.pad(x.view(b, h, w, c), (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class SwinStage(nn.Module):
    """``depth`` blocks alternating plain and shifted windows, then an optional PatchMerging."""

    def __init__(self, dim: int, depth: int, heads: int, config: SwinConfig, downsample: bool) -> None:
        super().__init__()
        self.window, self.shift = config.window, config.window // 2
        self.blocks = nn.ModuleList(
            SwinBlock(dim, heads, config.window, 0 if i % 2 == 0 else self.shift, config.mlp_ratio)
            for i in range(depth)
        )
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, H*W, C) -> (stage output (B, H*W, C), merged (B, ceil(H/2)*ceil(W/2), 2C) or None)."""
        win = self.window
        mask = shift_mask(-(-h // win) * win, -(-w // win) * win, win, self.shift, x.device)
        for block in self.blocks:
            x = block(x, h, w, mask)
        return x, None if self.downsample is None else self.downsample(x, h, w)


class PatchEmbed(nn.Module):
    """Zero-pad to multiples of the patch, conv patch x patch stride patch, LayerNorm over channels."""

    def __init__(self, patch: int, dim: int) -> None:
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C, ceil(H/p), ceil(W/p))."""
        h, w = x.shape[-2:]
        p = self.patch
        x = self.proj(F.pad(x, (0, (p - w % p) % p, 0, (p - h % p) % p)))
        b, c, hh, ww = x.shape
        return self.norm(x.flatten(2).transpose(1, 2)).transpose(1, 2).view(b, c, hh, ww)


class SwinBackbone(nn.Module):
    """Image (B, 3, H, W) -> the outputs of ``out_stages`` (each through its own LayerNorm ``norm{s}``), NCHW."""

    def __init__(self, config: SwinConfig, out_stages: tuple[int, ...]) -> None:
        super().__init__()
        self.out_stages = out_stages
        self.patch_embed = PatchEmbed(config.patch, config.embed_dim)
        last = len(config.depths) - 1
        self.layers = nn.ModuleList(
            SwinStage(config.channels(s), config.depths[s], config.heads[s], config, downsample=s < last)
            for s in range(len(config.depths))
        )
        for s in out_stages:
            self.add_module(f"norm{s}", nn.LayerNorm(config.channels(s)))

    @property
    def out_channels(self) -> list[int]:
        return [self.layers[s].blocks[0].norm1.normalized_shape[0] for s in self.out_stages]

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) -> [(B, C_s, H_s, W_s)] with strides 4 * 2^s."""
        x = self.patch_embed(image)
        h, w = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        outs = []
        for s, stage in enumerate(self.layers):
            out, merged = stage(x, h, w)
            if s in self.out_stages:
                out = getattr(self, f"norm{s}")(out)
                outs.append(out.view(-1, h, w, out.shape[-1]).permute(0, 3, 1, 2).contiguous())
            if merged is not None:
                x, h, w = merged, (h + 1) // 2, (w + 1) // 2
        return outs
