"""Multi-scale deformable attention with ``grid_sample`` (no compiled op).

Each query looks at ``points`` locations per level and head around its reference, with softmax weights over
all levels x points of a head. Sampling is bilinear with align_corners=False and zero padding: the continuous
pixel position of a normalised location is (x W - 0.5, y H - 0.5), and neighbours outside the map count as
zero, which is the CUDA kernel's rule.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def sample_levels(
    value: torch.Tensor, shapes: list[tuple[int, int]], locations: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Weighted bilinear sampling of every level.

    value (N, S, M, D) with S = sum of H_l * W_l (levels flattened row-major, in order);
    locations (N, Lq, M, L, P, 2) in [0, 1] (x, y); weights (N, Lq, M, L, P) -> (N, Lq, M * D).
    """
    n, _, m, d = value.shape
    _, lq, _, levels, p, _ = locations.shape
    per_level = value.split([h * w for h, w in shapes], dim=1)
    grids = 2 * locations - 1
    samples = []
    for lvl, (h, w) in enumerate(shapes):
        v = per_level[lvl].flatten(2).transpose(1, 2).reshape(n * m, d, h, w)
        grid = grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)
        samples.append(F.grid_sample(v, grid, mode="bilinear", padding_mode="zeros", align_corners=False))
    weights = weights.transpose(1, 2).reshape(n * m, 1, lq, levels * p)
    out = (torch.stack(samples, dim=-2).flatten(-2) * weights).sum(-1)
    return out.view(n, m * d, lq).transpose(1, 2).contiguous()


class MSDeformAttn(nn.Module):
    """Deformable attention of ``dim`` channels, ``heads`` heads, ``levels`` levels, ``points`` points."""

    def __init__(self, dim: int, heads: int, levels: int, points: int) -> None:
        super().__init__()
        self.heads, self.levels, self.points = heads, levels, points
        self.sampling_offsets = nn.Linear(dim, heads * levels * points * 2)
        self.attention_weights = nn.Linear(dim, heads * levels * points)
        self.value_proj = nn.Linear(dim, dim)
        self.output_proj = nn.Linear(dim, dim)

    def forward(
        self, query: torch.Tensor, reference: torch.Tensor, source: torch.Tensor, shapes: list[tuple[int, int]]
    ) -> torch.Tensor:
        """query (N, Lq, C); reference (N, Lq, L, 2) points or (N, Lq, L, 4) boxes (cx, cy, w, h) in [0, 1];
        source (N, S, C) flattened levels of ``shapes`` [(H_l, W_l)] -> (N, Lq, C).

        Point references move by offsets in pixels of each level; box references by offsets in units of
        half the box over ``points`` (the official normalisation).
        """
        n, lq, c = query.shape
        m, lv, p = self.heads, self.levels, self.points
        value = self.value_proj(source).view(n, source.shape[1], m, c // m)
        offsets = self.sampling_offsets(query).view(n, lq, m, lv, p, 2)
        weights = self.attention_weights(query).view(n, lq, m, lv * p).softmax(-1).view(n, lq, m, lv, p)
        if reference.shape[-1] == 2:
            wh = torch.tensor([[w, h] for h, w in shapes], dtype=torch.int64, device=query.device)
            locations = reference[:, :, None, :, None, :] + offsets / wh[None, None, None, :, None, :]
        else:
            locations = (reference[:, :, None, :, None, :2]
                         + offsets / p * reference[:, :, None, :, None, 2:] * 0.5)
        return self.output_proj(sample_levels(value, shapes, locations, weights))
