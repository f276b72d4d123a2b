"""The deformable transformer: flatten the levels, encode (with the text), pick the initial queries from the
encoder's own proposals (two-stage), decode."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from model.face.xpose.config import XPoseConfig
from model.face.xpose.decoder import Decoder, DecoderOutput
from model.face.xpose.encoder import Encoder
from model.face.xpose.heads import MLP, contrastive_logits
from model.face.xpose.position import sine_embed

#: Proposal anchors are valid only strictly inside this range (all four numbers).
PROPOSAL_RANGE = (0.01, 0.99)
#: Anchor side at level 0, doubled per level.
PROPOSAL_SIZE = 0.05


def encoder_proposals(
    shapes: list[tuple[int, int]], batch: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor boxes of every token: centre = pixel centre, side 0.05 * 2^level.

    Returns (unsigmoided anchors (B, S, 4), +inf where invalid; valid (B, S, 1) bool).
    """
    anchors = []
    for lvl, (h, w) in enumerate(shapes):
        ys, xs = torch.meshgrid(
            torch.linspace(0, h - 1, h, dtype=torch.float32, device=device),
            torch.linspace(0, w - 1, w, dtype=torch.float32, device=device),
            indexing="ij",
        )
        scale = torch.tensor([w, h], dtype=torch.int64, device=device)
        centre = (torch.stack([xs, ys], -1) + 0.5) / scale
        size = torch.ones_like(centre) * PROPOSAL_SIZE * (2.0**lvl)
        anchors.append(torch.cat([centre, size], -1).view(-1, 4))
    anchors = torch.cat(anchors, 0)[None].expand(batch, -1, -1)
    low, high = PROPOSAL_RANGE
    valid = ((anchors > low) & (anchors < high)).all(-1, keepdim=True)
    unsig = torch.log(anchors / (1 - anchors)).masked_fill(~valid, float("inf"))
    return unsig, valid


@dataclass
class Encoded:
    """What the keypoint prompt does not change: memory (B, S, C) and memory_text (B, T, C) from the encoder,
    text_valid (B, T), the level shapes, and the two-stage selection: enc_scores (B, S) its key, enc_topk (B, Q)
    the chosen tokens, boxes_unsig (B, Q, 4) their refined boxes before the sigmoid, init_proposals (B, Q, 4) their
    raw anchors (sigmoid)."""

    memory: torch.Tensor
    memory_text: torch.Tensor
    text_valid: torch.Tensor
    shapes: list[tuple[int, int]]
    enc_scores: torch.Tensor
    enc_topk: torch.Tensor
    boxes_unsig: torch.Tensor
    init_proposals: torch.Tensor

    @property
    def ref_enc(self) -> torch.Tensor:
        """(B, Q, 4) the initial decoder boxes."""
        return self.boxes_unsig.sigmoid()


class DeformableTransformer(nn.Module):
    def __init__(self, config: XPoseConfig) -> None:
        super().__init__()
        d = config.hidden
        self.config = config
        self.level_embed = nn.Parameter(torch.zeros(config.num_levels, d))
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.tgt_embed = nn.Embedding(config.num_queries, d)
        self.enc_output = nn.Linear(d, d)
        self.enc_output_norm = nn.LayerNorm(d)
        self.enc_out_bbox_embed = MLP(d, d, 4, 3)

    def encode(
        self, srcs: list[torch.Tensor], poss: list[torch.Tensor], text: torch.Tensor, text_valid: torch.Tensor,
        text_position_ids: torch.Tensor,
    ) -> Encoded:
        """srcs, poss: per level (B, C, H_l, W_l); text (B, T, C) projected object text, text_valid (B, T) bool,
        text_position_ids (B, T)."""
        shapes = [(int(s.shape[2]), int(s.shape[3])) for s in srcs]
        x = torch.cat([s.flatten(2).transpose(1, 2) for s in srcs], 1)
        pos = torch.cat(
            [p.flatten(2).transpose(1, 2) + self.level_embed[lvl].view(1, 1, -1) for lvl, p in enumerate(poss)], 1
        )
        text_pos = sine_embed(text_position_ids[..., None].float(), self.config.hidden)
        # Each text token attends only to itself (the official mask is the negated identity).
        blocked = ~torch.eye(text.shape[1], dtype=torch.bool, device=text.device)
        memory, memory_text = self.encoder(x, pos, shapes, text, text_pos, ~text_valid, blocked)

        anchors, valid = encoder_proposals(shapes, memory.shape[0], memory.device)
        out_memory = self.enc_output_norm(self.enc_output(memory.masked_fill(~valid, 0.0)))
        enc_scores = contrastive_logits(out_memory, memory_text, text_valid).max(-1)[0]
        boxes_unsig = self.enc_out_bbox_embed(out_memory) + anchors
        topk = torch.topk(enc_scores, self.config.num_queries, dim=1)[1]
        index4 = topk.unsqueeze(-1).repeat(1, 1, 4)
        return Encoded(
            memory=memory, memory_text=memory_text, text_valid=text_valid, shapes=shapes, enc_scores=enc_scores,
            enc_topk=topk, boxes_unsig=torch.gather(boxes_unsig, 1, index4),
            init_proposals=torch.gather(anchors, 1, index4).sigmoid(),
        )

    def decode(self, encoded: Encoded, kpt_content: torch.Tensor, kpt_visible: torch.Tensor) -> DecoderOutput:
        """kpt_content (B, K, C) projected keypoint text; kpt_visible (K,) bool."""
        batch = encoded.memory.shape[0]
        # Query content is the learned table by slot, not the selected memory (``embed_init_tgt``).
        content = self.tgt_embed.weight[:, None, :].repeat(1, batch, 1)
        return self.decoder(
            content, encoded.boxes_unsig.transpose(0, 1), encoded.memory, encoded.shapes, encoded.memory_text,
            encoded.text_valid, kpt_content, kpt_visible,
        )
