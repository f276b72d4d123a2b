"""UniPose (X-Pose): Swin-T features + text prompts -> boxes and keypoints of the prompted instance.

Parameter names and shapes are the official checkpoint's (``backbone.0.*``, ``input_proj.*``, ``transformer.*``,
the text projections, and the shared box / pose MLPs listed again at top level).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from model.face.xpose.config import XPoseConfig
from model.face.xpose.decoder import DecoderOutput
from model.face.xpose.heads import MLP, contrastive_logits, inverse_sigmoid
from model.face.xpose.position import image_position
from model.face.xpose.swin import SwinBackbone
from model.face.xpose.transformer import DeformableTransformer, Encoded

#: Visibility is not predicted: every keypoint reports sigmoid(1), as the official head does.
KEYPOINT_VISIBILITY = 0.7310585786300049


@dataclass
class TextPrompt:
    """CLIP text embeddings of a prompt: instance (I, 512) (I = 1: "face") and keypoints (N, 512), N <= 68."""

    instance: torch.Tensor
    keypoints: torch.Tensor

    def to(self, device: torch.device | str) -> TextPrompt:
        return TextPrompt(self.instance.float().to(device), self.keypoints.float().to(device))


@dataclass
class ImageEncoding:
    """The prompt-independent part of a forward: backbone features [(B, C_s, H_s, W_s)] and the encoder's."""

    backbone: list[torch.Tensor]
    encoded: Encoded


@dataclass
class XPoseOutput:
    """pred_logits (B, G, T) (-inf on padded text), pred_boxes (B, G, 4) (cx, cy, w, h) in [0, 1] of the network
    input, pred_keypoints (B, G, 3K): x0, y0, ..., x_{K-1}, y_{K-1} in [0, 1], then K visibilities; image and
    decoder: the intermediates (features, memory, selections, decoder states)."""

    pred_logits: torch.Tensor
    pred_boxes: torch.Tensor
    pred_keypoints: torch.Tensor
    image: ImageEncoding
    decoder: DecoderOutput


def _input_proj(c_in: int, d: int, extra: bool) -> nn.Sequential:
    conv = nn.Conv2d(c_in, d, kernel_size=3, stride=2, padding=1) if extra else nn.Conv2d(c_in, d, kernel_size=1)
    return nn.Sequential(conv, nn.GroupNorm(32, d))


class UniPose(nn.Module):
    def __init__(self, config: XPoseConfig) -> None:
        super().__init__()
        d = config.hidden
        self.config = config
        self.transformer = DeformableTransformer(config)
        # label_enc, pos_proj and padding are checkpoint state that only ever enters the official forward
        # multiplied by zero; they are kept so that the official file loads completely.
        self.label_enc = nn.Embedding(config.label_book + 1, d)
        self.projection = MLP(config.text_dim, d, d, 3)
        self.projection_kpt = MLP(config.text_dim, d, d, 3)
        self.pos_proj = nn.Linear(d, 3 * d)
        self.padding = nn.Embedding(1, 3 * d)
        swin = SwinBackbone(config.swin, config.out_stages)
        channels = swin.out_channels
        self.input_proj = nn.ModuleList(
            [_input_proj(c, d, extra=False) for c in channels] + [_input_proj(channels[-1], d, extra=True)]
        )
        self.backbone = nn.ModuleList([swin])
        dec = self.transformer.decoder
        # The same MLP objects as the decoder's: the official model registers them twice.
        self.bbox_embed = nn.ModuleList(list(dec.bbox_embed))
        self.pose_embed = nn.ModuleList(list(dec.pose_embed))
        self.pose_hw_embed = nn.ModuleList(list(dec.pose_hw_embed))

    def _object_text(self, instance: torch.Tensor, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """instance (I, text_dim) -> (projected object text (B, T, C) zero-padded to T rows, valid (B, T))."""
        cfg = self.config
        device = self.projection.layers[0].weight.device
        if instance.shape[0] > cfg.text_len:
            raise ValueError(f"{instance.shape[0]} instance prompts, at most {cfg.text_len}")
        obj = torch.zeros(batch, cfg.text_len, cfg.text_dim, device=device)
        obj[:, : instance.shape[0]] = instance.float().to(device)
        valid = torch.zeros(batch, cfg.text_len, dtype=torch.bool, device=device)
        valid[:, : instance.shape[0]] = True
        return self.projection(obj), valid

    def _keypoint_text(self, keypoints: torch.Tensor, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """keypoints (N, text_dim) -> (keypoint content (B, K, C), visibility (K,) bool: the first N)."""
        cfg = self.config
        device = self.projection_kpt.layers[0].weight.device
        n = keypoints.shape[0]
        if n > cfg.num_keypoints:
            raise ValueError(f"{n} keypoint prompts, at most {cfg.num_keypoints}")
        # The runner pads the keypoint rows to kpt_text_rows; the model reads the first num_keypoints.
        rows = torch.zeros(batch, max(cfg.kpt_text_rows, cfg.num_keypoints), cfg.text_dim, device=device)
        rows[:, :n] = keypoints.float().to(device)
        visible = torch.arange(cfg.num_keypoints, device=device) < n
        return self.projection_kpt(rows[:, : cfg.num_keypoints]), visible

    def encode(self, pixels: torch.Tensor, instance: torch.Tensor) -> ImageEncoding:
        """pixels (B, 3, H, W) normalised images (see ``runner.preprocess``), instance (I, text_dim) prompt
        embeddings -> the prompt-independent part (backbone, encoder, two-stage selection)."""
        cfg = self.config
        batch = pixels.shape[0]
        features = self.backbone[0](pixels)
        srcs = [proj(f) for proj, f in zip(self.input_proj, features, strict=False)]
        srcs.append(self.input_proj[-1](features[-1]))
        poss = [
            image_position(batch, s.shape[2], s.shape[3], cfg.hidden, cfg.pe_temperature, s.device).to(s.dtype)
            for s in srcs
        ]
        text, text_valid = self._object_text(instance, batch)
        encoded = self.transformer.encode(srcs, poss, text, text_valid, text_valid.long())
        return ImageEncoding(features, encoded)

    def decode(self, image: ImageEncoding, keypoints: torch.Tensor) -> XPoseOutput:
        """Keypoint prompt embeddings (N, text_dim) -> :class:`XPoseOutput` of the last decoder layer."""
        cfg = self.config
        enc = image.encoded
        kpt_content, visible = self._keypoint_text(keypoints, enc.memory.shape[0])
        dec = self.transformer.decode(enc, kpt_content, visible)
        per = cfg.num_keypoints + 1
        hs = dec.hs[-1].unflatten(1, (-1, per))
        ref = dec.references[-2].unflatten(1, (-1, per))
        hs_box, ref_box = hs[:, :, 0], ref[:, :, 0]
        heads = self.transformer.decoder
        boxes = (heads.box_head(hs_box) + inverse_sigmoid(ref_box)).sigmoid()
        logits = contrastive_logits(hs_box, enc.memory_text, enc.text_valid)
        xy = (heads.pose_head(hs[:, :, 1:]) + inverse_sigmoid(ref[:, :, 1:, :2])).sigmoid()
        vis = torch.full(xy.shape[:-1], KEYPOINT_VISIBILITY, dtype=xy.dtype, device=xy.device)
        return XPoseOutput(logits, boxes, torch.cat([xy.flatten(2), vis], -1), image, dec)

    def forward(self, pixels: torch.Tensor, prompt: TextPrompt) -> XPoseOutput:
        """pixels (B, 3, H, W) normalised images -> :class:`XPoseOutput` (every image gets the same prompt)."""
        return self.decode(self.encode(pixels, prompt.instance), prompt.keypoints)
