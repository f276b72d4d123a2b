"""Output heads: the MLPs (boxes, keypoint offsets and sizes, text projections), the text-contrastive
classifier and the clamped inverse sigmoid the box refinements use."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """``layers`` Linear layers (in -> hidden ... -> out) with ReLU between them."""

    def __init__(self, dim_in: int, hidden: int, dim_out: int, layers: int) -> None:
        super().__init__()
        dims = [dim_in] + [hidden] * (layers - 1)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, [*dims[1:], dim_out], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """log(x / (1 - x)) with x clamped to [0, 1] and both terms to >= eps (1.0 maps to log(1/eps) = 6.9078)."""
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def contrastive_logits(x: torch.Tensor, text: torch.Tensor, text_valid: torch.Tensor) -> torch.Tensor:
    """x (B, Q, C) queries, text (B, T, C), text_valid (B, T) bool -> (B, Q, T) dot products, -inf on padding.

    The official classifier (``ContrastiveAssign``): no scale, no bias, no parameters.
    """
    logits = x @ text.transpose(-1, -2)
    return logits.masked_fill(~text_valid[:, None, :], float("-inf"))
