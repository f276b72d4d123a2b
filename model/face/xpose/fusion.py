"""Image-text fusion (bi-directional cross-attention with layer scale), one per encoder layer."""

from __future__ import annotations

import torch
from torch import nn

#: Attention logits are clamped to this range after the max shift (the official overflow guard).
CLAMP = 50000.0


class BiMultiHeadAttention(nn.Module):
    """Image tokens attend to text tokens and text tokens to image tokens through one score matrix."""

    def __init__(self, v_dim: int, l_dim: int, embed_dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.embed_dim = heads, embed_dim
        self.head_dim = embed_dim // heads
        self.scale = self.head_dim**-0.5
        self.v_proj = nn.Linear(v_dim, embed_dim)
        self.l_proj = nn.Linear(l_dim, embed_dim)
        self.values_v_proj = nn.Linear(v_dim, embed_dim)
        self.values_l_proj = nn.Linear(l_dim, embed_dim)
        self.out_v_proj = nn.Linear(embed_dim, v_dim)
        self.out_l_proj = nn.Linear(embed_dim, l_dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, E) -> (B * heads, T, E / heads)."""
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2).contiguous().view(b * self.heads, t, -1)

    def _merge(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        """(B * heads, T, E / heads) -> (B, T, E)."""
        t = x.shape[1]
        return x.view(batch, self.heads, t, self.head_dim).transpose(1, 2).reshape(batch, t, self.embed_dim)

    def forward(
        self, v: torch.Tensor, text: torch.Tensor, text_padding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """v (B, S, Cv) image tokens, text (B, T, Cl), text_padding (B, T) True for padded tokens
        -> (delta_v (B, S, Cv), delta_text (B, T, Cl)).
        """
        b = v.shape[0]
        q = self._split(self.v_proj(v) * self.scale)
        k = self._split(self.l_proj(text))
        values_v = self._split(self.values_v_proj(v))
        values_l = self._split(self.values_l_proj(text))
        scores = torch.bmm(q, k.transpose(1, 2))
        # The global max (over batch, heads and every token, padded text included) only guards the
        # exponentials, but it sets the rounding, so it is kept as in the reference.
        scores = (scores - scores.max()).clamp(min=-CLAMP, max=CLAMP)
        scores_t = scores.transpose(1, 2)
        scores_t = (scores_t - scores_t.max(dim=-1, keepdim=True)[0]).clamp(min=-CLAMP, max=CLAMP)
        mask = text_padding[:, None, None, :].repeat(1, self.heads, 1, 1).flatten(0, 1)
        attn_v = scores.masked_fill(mask, float("-inf")).softmax(dim=-1)
        attn_l = scores_t.softmax(dim=-1)
        delta_v = self.out_v_proj(self._merge(torch.bmm(attn_v, values_l), b))
        delta_l = self.out_l_proj(self._merge(torch.bmm(attn_l, values_v), b))
        return delta_v, delta_l


class BiAttentionBlock(nn.Module):
    """Pre-norm fusion: returns (LN_v(v) + gamma_v * delta_v, LN_l(t) + gamma_l * delta_l).

    There is no skip to the un-normed inputs (the official block). ``gamma_v`` / ``gamma_l`` are the layer
    scales stored in the checkpoint (frozen parameters).
    """

    def __init__(self, v_dim: int, l_dim: int, embed_dim: int, heads: int) -> None:
        super().__init__()
        self.layer_norm_v = nn.LayerNorm(v_dim)
        self.layer_norm_l = nn.LayerNorm(l_dim)
        self.attn = BiMultiHeadAttention(v_dim, l_dim, embed_dim, heads)
        self.gamma_v = nn.Parameter(torch.full((v_dim,), 1e-4), requires_grad=False)
        self.gamma_l = nn.Parameter(torch.full((l_dim,), 1e-4), requires_grad=False)

    def forward(
        self, v: torch.Tensor, text: torch.Tensor, text_padding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """v (B, S, Cv), text (B, T, Cl), text_padding (B, T) bool -> (v', text') of the same shapes."""
        v, text = self.layer_norm_v(v), self.layer_norm_l(text)
        delta_v, delta_l = self.attn(v, text, text_padding)
        return v + self.gamma_v * delta_v, text + self.gamma_l * delta_l
