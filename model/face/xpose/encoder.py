"""The encoder: per layer, image-text fusion, then a text self-attention layer, then deformable image attention."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.face.xpose.config import XPoseConfig
from model.face.xpose.deform_attn import MSDeformAttn
from model.face.xpose.fusion import BiAttentionBlock


class DeformableEncoderLayer(nn.Module):
    """Post-norm deformable self-attention over all levels, then a ReLU FFN."""

    def __init__(self, dim: int, ffn: int, heads: int, levels: int, points: int) -> None:
        super().__init__()
        self.self_attn = MSDeformAttn(dim, heads, levels, points)
        self.norm1 = nn.LayerNorm(dim)
        self.linear1 = nn.Linear(dim, ffn)
        self.linear2 = nn.Linear(ffn, dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(
        self, x: torch.Tensor, pos: torch.Tensor, reference: torch.Tensor, shapes: list[tuple[int, int]]
    ) -> torch.Tensor:
        """x, pos (B, S, C); reference (B, S, L, 2) -> (B, S, C)."""
        x = self.norm1(x + self.self_attn(x + pos, reference, x, shapes))
        return self.norm2(x + self.linear2(F.relu(self.linear1(x))))


class TextEnhancerLayer(nn.Module):
    """Post-norm text self-attention (sequence-first ``nn.MultiheadAttention``) and a ReLU FFN.

    Officially the attention mask is the negated identity: each text token attends only to itself.
    """

    def __init__(self, dim: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads)
        self.linear1 = nn.Linear(dim, ffn)
        self.linear2 = nn.Linear(ffn, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, text: torch.Tensor, pos: torch.Tensor, blocked: torch.Tensor) -> torch.Tensor:
        """text, pos (T, B, C) sequence-first; blocked (T, T) bool, True where attention is not allowed."""
        q = text + pos
        text = self.norm1(text + self.self_attn(q, q, value=text, attn_mask=blocked)[0])
        return self.norm2(text + self.linear2(F.relu(self.linear1(text))))


class Encoder(nn.Module):
    """``enc_layers`` x (fusion -> text layer -> deformable image layer)."""

    def __init__(self, config: XPoseConfig) -> None:
        super().__init__()
        d = config.hidden
        self.layers = nn.ModuleList(
            DeformableEncoderLayer(d, config.ffn, config.heads, config.num_levels, config.points)
            for _ in range(config.enc_layers)
        )
        self.text_layers = nn.ModuleList(
            TextEnhancerLayer(d, config.heads // 2, config.ffn // 2) for _ in range(config.enc_layers)
        )
        self.fusion_layers = nn.ModuleList(
            BiAttentionBlock(d, d, config.ffn // 2, config.heads // 2) for _ in range(config.enc_layers)
        )

    @staticmethod
    def reference_points(shapes: list[tuple[int, int]], batch: int, device: torch.device) -> torch.Tensor:
        """(B, S, L, 2) pixel-centre points ((j + 0.5) / W_l, (i + 0.5) / H_l) of every token, for every level."""
        points = []
        for h, w in shapes:
            ys, xs = torch.meshgrid(
                torch.linspace(0.5, h - 0.5, h, dtype=torch.float32, device=device),
                torch.linspace(0.5, w - 0.5, w, dtype=torch.float32, device=device),
                indexing="ij",
            )
            points.append(torch.stack((xs.reshape(-1) / w, ys.reshape(-1) / h), -1))
        ref = torch.cat(points, 0)[None].expand(batch, -1, -1)
        return ref[:, :, None].expand(-1, -1, len(shapes), -1)

    def forward(
        self, x: torch.Tensor, pos: torch.Tensor, shapes: list[tuple[int, int]], text: torch.Tensor,
        text_pos: torch.Tensor, text_padding: torch.Tensor, text_blocked: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x, pos (B, S, C) image tokens; text, text_pos (B, T, C); text_padding (B, T); text_blocked (T, T)
        -> (memory (B, S, C), memory_text (B, T, C)).
        """
        reference = self.reference_points(shapes, x.shape[0], x.device)
        for fusion, text_layer, layer in zip(self.fusion_layers, self.text_layers, self.layers, strict=True):
            x, text = fusion(x, text, text_padding)
            text = text_layer(text.transpose(0, 1), text_pos.transpose(0, 1), text_blocked).transpose(0, 1)
            x = layer(x, pos, reference, shapes)
        return x, text
