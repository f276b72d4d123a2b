"""JoyVASA's denoising transformer (``DenoisingNetwork``), with the official state-dict names.

Tokens: P context frames then L window frames, S = P + L. Per step:
``h = feature_proj([prev_motion; motion]) + PE + MLP(TE[step])``, then 8 post-norm
``nn.TransformerDecoderLayer``s (self-attention unmasked; cross-attention over the audio memory
``[prev_audio_feat; audio_feat]`` under the alignment mask), then ``motion_dec``.

The alignment mask lets token i see only memory token i. Softmax over a single key is exactly 1,
so cross-attention at token i is ``out_proj(V(memory_i))``: an affine map of the audio feature
that does not depend on the step. The fast path (default while the mask is diagonal) computes
those terms once per window (:meth:`DenoisingNetwork.precompute_memory`) and skips Q, K and the
softmax; the stock ``nn.TransformerDecoder`` path stays available (``affine_cross_attention = False``).
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from model.motion.attention import AttentionBackend, attend, check_backend

PositionalEncodingMode = Literal["legacy", "fixed"]
#: Rows of the step table: the official network sizes it with its own default of 500 steps, whatever T is.
N_STEP_ROWS = 501
#: Rows of the positional table (official ``PositionalEncoding`` default).
N_POSITION_ROWS = 600
#: Dropout after the positional encoding, in training (the official ``PositionalEncoding``'s).
POSITION_DROPOUT = 0.1


def sinusoidal_table(n_rows: int, dim: int) -> torch.Tensor:
    """(1, n_rows, dim) float32: column 2i = sin(p w_i), 2i+1 = cos(p w_i), w_i = exp(-2i ln(10000)/dim)."""
    position = torch.arange(0, n_rows, dtype=torch.float32).unsqueeze(1)
    frequencies = torch.exp(torch.arange(0, dim, 2).float() * (-math.log(10000.0) / dim))
    table = torch.zeros(n_rows, dim)
    table[:, 0::2] = torch.sin(position * frequencies)
    table[:, 1::2] = torch.cos(position * frequencies)
    return table.unsqueeze(0)


def diagonal_alignment_mask(n_tokens: int) -> torch.Tensor:
    """(n_tokens, n_tokens) bool, True = blocked: query i may attend memory i only (official width 1)."""
    return ~torch.eye(n_tokens, dtype=torch.bool)


class SinusoidalTable(nn.Module):
    """Holds a fixed sinusoidal table as the buffer ``pe`` (1, n_rows, dim), as the official module does."""

    def __init__(self, n_rows: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("pe", sinusoidal_table(n_rows, dim))


class DenoisingNetwork(nn.Module):
    """x0-predicting transformer: (noisy motion, audio features, context, step) -> (N, P + L, m).

    ``positional_encoding``: ``"legacy"`` adds the single row ``pe[P + L]`` to every token, as
    all code before upstream commit 74290f6 did and as the released checkpoints were trained;
    ``"fixed"`` adds rows 0..P+L-1 (upstream HEAD). ``attention_backend`` picks the
    self-attention kernel of the fast path (see :mod:`model.motion.attention`).
    In training mode the stock decoder runs (with its dropout, as officially), and the positional encoding is
    followed by dropout (``position_dropout``); in eval mode both are the identity.
    """

    def __init__(
        self,
        motion_feat_dim: int,
        feature_dim: int,
        n_motions: int,
        n_prev_motions: int,
        n_heads: int = 8,
        n_layers: int = 8,
        mlp_ratio: int = 4,
        positional_encoding: PositionalEncodingMode = "legacy",
        attention_backend: str = "sdpa",
    ) -> None:
        super().__init__()
        self.n_motions = n_motions
        self.n_prev_motions = n_prev_motions
        self.n_heads = n_heads
        self.positional_encoding = positional_encoding
        self.attention_backend = attention_backend
        self.TE = SinusoidalTable(N_STEP_ROWS, feature_dim)
        self.diff_step_map = nn.Sequential(
            nn.Linear(feature_dim, feature_dim), nn.GELU(), nn.Linear(feature_dim, feature_dim)
        )
        self.PE = SinusoidalTable(N_POSITION_ROWS, feature_dim)
        self.position_dropout = nn.Dropout(POSITION_DROPOUT)
        self.feature_proj = nn.Linear(motion_feat_dim, feature_dim)
        layer = nn.TransformerDecoderLayer(
            d_model=feature_dim,
            nhead=n_heads,
            dim_feedforward=mlp_ratio * feature_dim,
            activation="gelu",
            batch_first=True,
        )
        self.transformer = nn.TransformerDecoder(layer, num_layers=n_layers)
        self.register_buffer("alignment_mask", diagonal_alignment_mask(n_prev_motions + n_motions))
        self.motion_dec = nn.Sequential(
            nn.Linear(feature_dim, feature_dim // 2), nn.GELU(), nn.Linear(feature_dim // 2, motion_feat_dim)
        )
        self._affine = True
        # A loaded mask decides whether the fast path is exact, whoever loads the state dict.
        self.register_load_state_dict_post_hook(DenoisingNetwork._check_loaded_mask)

    # -- options -------------------------------------------------------------------------------

    @property
    def mask_is_diagonal(self) -> bool:
        mask = self.alignment_mask
        return mask.shape[0] == mask.shape[1] and torch.equal(
            mask.cpu(), diagonal_alignment_mask(mask.shape[0])
        )

    @property
    def affine_cross_attention(self) -> bool:
        """Whether cross-attention runs as the per-token affine map (needs the diagonal mask)."""
        return self._affine

    @affine_cross_attention.setter
    def affine_cross_attention(self, enabled: bool) -> None:
        if enabled and not self.mask_is_diagonal:
            raise ValueError("the alignment mask is not diagonal: the affine cross-attention path would be wrong")
        self._affine = bool(enabled)

    @property
    def positional_encoding(self) -> PositionalEncodingMode:
        """``"legacy"`` (released checkpoints) or ``"fixed"`` (upstream HEAD), see the class docstring."""
        return self._positional_encoding

    @positional_encoding.setter
    def positional_encoding(self, mode: str) -> None:
        if mode not in ("legacy", "fixed"):
            raise ValueError(f"positional_encoding must be 'legacy' or 'fixed', got {mode!r}")
        self._positional_encoding: PositionalEncodingMode = mode  # type: ignore[assignment]

    @property
    def attention_backend(self) -> AttentionBackend:
        """Self-attention kernel of the fast path: ``"sdpa"`` or ``"xformers"`` (CUDA, if installed)."""
        return self._attention_backend

    @attention_backend.setter
    def attention_backend(self, name: str) -> None:
        self._attention_backend = check_backend(name)

    @staticmethod
    def _check_loaded_mask(module: DenoisingNetwork, _incompatible_keys: object) -> None:
        if module._affine and not module.mask_is_diagonal:
            warnings.warn(
                "the loaded alignment mask is not the official diagonal one; using the full "
                "cross-attention path (affine_cross_attention disabled)",
                stacklevel=3,
            )
            module._affine = False

    # -- computation ---------------------------------------------------------------------------

    def embed_tokens(self, motion: torch.Tensor, prev_motion: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """(N, L, m), (N, P, m), (N,) -> input tokens (N, P + L, d) with position and step embeddings."""
        step_embedding = self.diff_step_map(self.TE.pe[0, step]).unsqueeze(1)
        tokens = self.feature_proj(torch.cat([prev_motion, motion], dim=1))
        n_tokens = tokens.shape[1]
        if self.positional_encoding == "legacy":
            position = self.PE.pe[:, n_tokens : n_tokens + 1]
        else:
            position = self.PE.pe[:, :n_tokens]
        return self.position_dropout(tokens + position) + step_embedding

    def precompute_memory(self, prev_audio_feat: torch.Tensor, audio_feat: torch.Tensor) -> torch.Tensor:
        """Cross-attention outputs of every layer for a window: (n_layers, N, P + L, d).

        ``prev_audio_feat`` (N, P, d), ``audio_feat`` (N, L, d). Valid for every diffusion step
        of the window (they depend only on the audio memory); pass them as ``memory_terms``.
        """
        memory = torch.cat([prev_audio_feat, audio_feat], dim=1)
        terms = []
        for layer in self.transformer.layers:
            attention = layer.multihead_attn
            d = attention.embed_dim
            values = F.linear(memory, attention.in_proj_weight[2 * d :], attention.in_proj_bias[2 * d :])
            terms.append(attention.out_proj(values))
        return torch.stack(terms)

    def _self_attention(self, attention: nn.MultiheadAttention, x: torch.Tensor) -> torch.Tensor:
        n, s, d = x.shape
        qkv = F.linear(x, attention.in_proj_weight, attention.in_proj_bias).view(n, s, 3, self.n_heads, -1)
        out = attend(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], self.attention_backend)
        return attention.out_proj(out.reshape(n, s, d))

    def _decode_affine(self, h: torch.Tensor, memory_terms: torch.Tensor) -> torch.Tensor:
        for layer, cross in zip(self.transformer.layers, memory_terms, strict=True):
            h = layer.norm1(h + self._self_attention(layer.self_attn, h))
            h = layer.norm2(h + cross)
            h = layer.norm3(h + layer.linear2(F.gelu(layer.linear1(h))))
        return h

    def forward(
        self,
        motion: torch.Tensor,
        audio_feat: torch.Tensor | None,
        prev_motion: torch.Tensor,
        prev_audio_feat: torch.Tensor | None,
        step: torch.Tensor,
        memory_terms: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x0 prediction (N, P + L, m) for the context and the window.

        motion (N, L, m) noisy window; audio_feat (N, L, d); prev_motion (N, P, m);
        prev_audio_feat (N, P, d); step (N,) int in 1..T. ``memory_terms`` from
        :meth:`precompute_memory` replace the two audio inputs (which may then be None).
        """
        h = self.embed_tokens(motion, prev_motion, step)
        if not self._affine or self.training:
            if memory_terms is not None:
                raise ValueError("memory_terms need the affine cross-attention path, which is disabled")
            memory = torch.cat([prev_audio_feat, audio_feat], dim=1)
            return self.motion_dec(self.transformer(h, memory, memory_mask=self.alignment_mask))
        if memory_terms is None:
            memory_terms = self.precompute_memory(prev_audio_feat, audio_feat)
        elif memory_terms.shape[1:] != h.shape:
            raise ValueError(
                f"memory_terms shape {tuple(memory_terms.shape)} does not fit tokens {tuple(h.shape)} "
                f"(expected ({len(self.transformer.layers)}, N, P + L, d))"
            )
        return self.motion_dec(self._decode_affine(h, memory_terms))
