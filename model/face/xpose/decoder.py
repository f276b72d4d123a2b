"""The decoder: box queries refined for ``num_box_layers`` layers, then the best ``num_groups`` boxes each grow a
group of keypoint queries, refined together (attention restricted to each group) in the remaining layers.

Sequence-first tensors (queries, batch, channels), as the official ``nn.MultiheadAttention`` calls use.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model.face.xpose.config import XPoseConfig
from model.face.xpose.deform_attn import MSDeformAttn
from model.face.xpose.heads import MLP, contrastive_logits, inverse_sigmoid
from model.face.xpose.position import box_sine_embed

#: The keypoint size table is two checkpoint parameters: 17 rows (COCO body) then the rest.
HW_TABLE_FIRST = 17


class DecoderLayer(nn.Module):
    """Self-attention, text cross-attention, deformable image cross-attention, ReLU FFN; all post-norm."""

    def __init__(self, config: XPoseConfig) -> None:
        super().__init__()
        d = config.hidden
        self.cross_attn = MSDeformAttn(d, config.heads, config.num_levels, config.points)
        self.norm1 = nn.LayerNorm(d)
        self.ca_text = nn.MultiheadAttention(d, config.heads)
        self.catext_norm = nn.LayerNorm(d)
        self.self_attn = nn.MultiheadAttention(d, config.heads)
        self.norm2 = nn.LayerNorm(d)
        self.linear1 = nn.Linear(d, config.ffn)
        self.linear2 = nn.Linear(config.ffn, d)
        self.norm3 = nn.LayerNorm(d)

    def forward(
        self, c: torch.Tensor, query_pos: torch.Tensor, reference: torch.Tensor, memory: torch.Tensor,
        shapes: list[tuple[int, int]], memory_text: torch.Tensor, text_padding: torch.Tensor,
        blocked: torch.Tensor | None,
    ) -> torch.Tensor:
        """c, query_pos (Q, B, C); reference (Q, B, 4) boxes; memory (B, S, C) (without position);
        memory_text (T, B, C); text_padding (B, T); blocked (Q, Q) bool or None -> (Q, B, C).
        """
        q = c + query_pos
        c = self.norm2(c + self.self_attn(q, q, c, attn_mask=blocked)[0])
        c = self.catext_norm(
            c + self.ca_text(c + query_pos, memory_text, memory_text, key_padding_mask=text_padding)[0]
        )
        ref = reference.transpose(0, 1)[:, :, None].expand(-1, -1, len(shapes), -1)
        c = self.norm1(c + self.cross_attn((c + query_pos).transpose(0, 1), ref, memory, shapes).transpose(0, 1))
        return self.norm3(c + self.linear2(F.relu(self.linear1(c))))


def group_mask(groups: int, visible: torch.Tensor) -> torch.Tensor:
    """(G*(1+K), G*(1+K)) bool, True = blocked: a query sees only its own group, and inside it only queries
    with the same visibility (the box counts as visible; padded keypoints form their own clique).

    visible: (K,) bool.
    """
    m = torch.cat([visible.new_ones(1), visible])
    same = m[:, None] == m[None, :]
    allowed = torch.block_diag(*[same.to(torch.uint8)] * groups).bool()
    return ~allowed


@dataclass
class DecoderOutput:
    """hs: the normed outputs of every layer ((B, Q_k, C), Q = 900 then G*(1+K)); references: the input boxes of
    every layer plus the last refinement ((B, Q_k, 4), sigmoid); box_scores: (B, num_queries) selection key after
    the last box layer; groups: (B, G) the selected box queries, in score order.
    """

    hs: list[torch.Tensor]
    references: list[torch.Tensor]
    box_scores: torch.Tensor
    groups: torch.Tensor


class Decoder(nn.Module):
    """Decoder layers plus the heads that refine references between layers.

    ``bbox_embed`` / ``pose_embed`` / ``pose_hw_embed`` hold one shared MLP each, listed once per layer that
    uses it, so the state dict has every official (aliased) name.
    """

    def __init__(self, config: XPoseConfig) -> None:
        super().__init__()
        d, k = config.hidden, config.num_keypoints
        self.config = config
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.dec_layers))
        self.norm = nn.LayerNorm(d)
        self.ref_point_head = MLP(2 * d, d, d, 2)
        self.hw = nn.Embedding(min(HW_TABLE_FIRST, k), 2)
        self.hw_append = nn.Embedding(k - min(HW_TABLE_FIRST, k), 2)
        box, pose, pose_hw = MLP(d, d, 4, 3), MLP(d, d, 2, 3), MLP(d, d, 2, 3)
        self.bbox_embed = nn.ModuleList([box] * config.dec_layers)
        self.pose_embed = nn.ModuleList([pose] * (config.dec_layers - 1))
        self.pose_hw_embed = nn.ModuleList([pose_hw] * (config.dec_layers - 2))

    @property
    def box_head(self) -> MLP:
        return self.bbox_embed[0]

    @property
    def pose_head(self) -> MLP:
        return self.pose_embed[0]

    @property
    def pose_hw_head(self) -> MLP:
        return self.pose_hw_embed[0]

    def _make_groups(
        self, c: torch.Tensor, r: torch.Tensor, memory_text: torch.Tensor, text_valid: torch.Tensor,
        kpt_content: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keep the best ``num_groups`` box queries (un-normed outputs c (Q, B, C), refined boxes r (Q, B, 4)) and
        give each the keypoint queries: content = the keypoint text features (B, K, C), boxes = the box centre
        moved by the pose head's offset and sized by the learned table times the box size.

        Returns (content, boxes) of shape (G*(1+K), B, C|4), the scores (B, Q) and the kept indices (B, G).
        """
        g = self.config.num_groups
        scores = contrastive_logits(c.transpose(0, 1), memory_text, text_valid).transpose(0, 1).max(-1)[0]
        keep = torch.topk(scores, g, dim=0)[1]
        box_c = torch.gather(c, 0, keep.unsqueeze(-1).repeat(1, 1, c.shape[-1]))
        box_r = torch.gather(r, 0, keep.unsqueeze(-1).repeat(1, 1, 4))
        kpt_c = kpt_content.transpose(0, 1)
        k = kpt_c.shape[0]
        xy = (inverse_sigmoid(box_r[:, None, :, :2]) + self.pose_head(kpt_c)[None]).sigmoid()
        size_table = torch.cat([self.hw.weight, self.hw_append.weight], 0).sigmoid()
        wh = size_table[None, :, None, :] * box_r[:, None, :, 2:]
        kpt_r = torch.cat([xy, wh], -1)
        content = torch.cat([box_c[:, None], kpt_c[None].expand(g, -1, -1, -1)], 1).flatten(0, 1)
        boxes = torch.cat([box_r[:, None], kpt_r], 1).flatten(0, 1)
        assert boxes.shape[0] == g * (1 + k)
        return content, boxes, scores.transpose(0, 1), keep.transpose(0, 1)

    def _refine_groups(self, c: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Refine (G*(1+K), B, 4) boxes from the un-normed outputs: boxes by the box head, keypoints by the
        pose (centre) and pose-size heads, all in inverse-sigmoid space."""
        per = self.config.num_keypoints + 1
        c = c.unflatten(0, (-1, per))
        r = r.unflatten(0, (-1, per))
        box = (self.box_head(c[:, :1]) + inverse_sigmoid(r[:, :1])).sigmoid()
        kpt_c, u = c[:, 1:], inverse_sigmoid(r[:, 1:])
        kpt = torch.cat([u[..., :2] + self.pose_head(kpt_c), u[..., 2:] + self.pose_hw_head(kpt_c)], -1).sigmoid()
        return torch.cat([box, kpt], 1).flatten(0, 1)

    def forward(
        self, content: torch.Tensor, boxes_unsig: torch.Tensor, memory: torch.Tensor, shapes: list[tuple[int, int]],
        memory_text: torch.Tensor, text_valid: torch.Tensor, kpt_content: torch.Tensor, kpt_visible: torch.Tensor,
    ) -> DecoderOutput:
        """content (Q, B, C) initial queries, boxes_unsig (Q, B, 4) their boxes before the sigmoid; memory (B, S, C);
        memory_text (B, T, C), text_valid (B, T); kpt_content (B, K, C); kpt_visible (K,) bool.
        """
        d = self.config.hidden
        text_seq, text_padding = memory_text.transpose(0, 1), ~text_valid
        c, r = content, boxes_unsig.sigmoid()
        references, hs = [r], []
        blocked = None
        box_scores = groups = None
        for k, layer in enumerate(self.layers):
            query_pos = self.ref_point_head(box_sine_embed(r, d // 2))
            c = layer(c, query_pos, r, memory, shapes, text_seq, text_padding, blocked)
            hs.append(self.norm(c))
            if k < self.config.num_box_layers:
                r = (self.bbox_embed[k](c) + inverse_sigmoid(r)).sigmoid()
                if k == self.config.num_box_layers - 1:
                    c, r, box_scores, groups = self._make_groups(c, r, memory_text, text_valid, kpt_content)
                    blocked = group_mask(self.config.num_groups, kpt_visible)
            else:
                r = self._refine_groups(c, r)
            references.append(r)
        assert box_scores is not None and groups is not None
        return DecoderOutput(
            hs=[h.transpose(0, 1) for h in hs], references=[x.transpose(0, 1) for x in references],
            box_scores=box_scores, groups=groups,
        )
