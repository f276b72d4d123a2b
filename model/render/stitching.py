"""Stitching and retargeting MLPs S (the ``stitching_retargeting_module.pth`` checkpoint).

The checkpoint is a dict of three state dicts, one per MLP, whose keys carry a DDP ``module.``
prefix: ``retarget_shoulder`` (stitching), ``retarget_mouth`` (lip), ``retarget_eye`` (eye).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import torch
from torch import nn

from model.checkpoint import CheckpointError, as_state_dict, load_state_dict_checked
from model.render.config import MLPConfig, StitchingConfig

#: Our MLP name -> the checkpoint's sub-dict name.
CHECKPOINT_NAMES = {"stitching": "retarget_shoulder", "lip": "retarget_mouth", "eye": "retarget_eye"}


class RetargetingMLP(nn.Module):
    """Linear -> ReLU -> ... -> Linear (no output activation); keys ``mlp.{0,2,4,...}``."""

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        sizes = (config.input_size, *config.hidden_sizes)
        layers: list[nn.Module] = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], config.output_size))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


class StitchingRetargeting(nn.Module):
    """The three MLPs, plus the wrapper operations of LivePortrait that use them.

    Keypoints are (B, K, 3); MLP inputs flatten them row-major and append the extra features.
    """

    def __init__(self, config: StitchingConfig) -> None:
        super().__init__()
        self.stitching = RetargetingMLP(config.stitching)
        self.lip = RetargetingMLP(config.lip)
        self.eye = RetargetingMLP(config.eye)

    def stitch_delta(self, kp_source: torch.Tensor, kp_driving: torch.Tensor) -> torch.Tensor:
        """S([x_s, x_d]) -> (B, 3K + 2): per-keypoint offsets, then a shared (tx, ty)."""
        batch = kp_source.shape[0]
        return self.stitching(torch.cat([kp_source.reshape(batch, -1), kp_driving.reshape(batch, -1)], dim=1))

    def apply_stitching(self, kp_source: torch.Tensor, kp_driving: torch.Tensor) -> torch.Tensor:
        """x_d + offsets, with the (tx, ty) added to x and y of every keypoint: (B, K, 3)."""
        batch, num_kp = kp_driving.shape[:2]
        delta = self.stitch_delta(kp_source, kp_driving)
        out = kp_driving + delta[:, : 3 * num_kp].reshape(batch, num_kp, 3)
        shift = delta[:, 3 * num_kp : 3 * num_kp + 2].reshape(batch, 1, 2)
        return torch.cat([out[..., :2] + shift, out[..., 2:]], dim=-1)

    def retarget_eye(self, kp_source: torch.Tensor, eye_ratio: torch.Tensor) -> torch.Tensor:
        """Eye keypoint offsets from [x_s, (c_s_left, c_s_right, c_d)]: (B, 3) ratios -> (B, K, 3)."""
        batch, num_kp = kp_source.shape[:2]
        return self.eye(torch.cat([kp_source.reshape(batch, -1), eye_ratio], dim=1)).reshape(batch, num_kp, 3)

    def retarget_lip(self, kp_source: torch.Tensor, lip_ratio: torch.Tensor) -> torch.Tensor:
        """Lip keypoint offsets from [x_s, (c_s, c_d)]: (B, 2) ratios -> (B, K, 3)."""
        batch, num_kp = kp_source.shape[:2]
        return self.lip(torch.cat([kp_source.reshape(batch, -1), lip_ratio], dim=1)).reshape(batch, num_kp, 3)

    def load_checkpoint_dict(self, checkpoint: object, source: str) -> None:
        """Load the official nested dict; every ``module.`` substring is removed, as the official loader does."""
        if not isinstance(checkpoint, Mapping):
            raise CheckpointError(f"{source}: expected a dict of the three MLP state dicts")
        missing = [name for name in CHECKPOINT_NAMES.values() if name not in checkpoint]
        if missing:
            raise CheckpointError(f"{source}: missing sub-dicts {missing}; is this stitching_retargeting_module.pth?")
        for ours, theirs in CHECKPOINT_NAMES.items():
            sub = as_state_dict(checkpoint[theirs], f"{source}[{theirs!r}]")
            cleaned = {k.replace("module.", ""): v for k, v in sub.items()}
            load_state_dict_checked(getattr(self, ours), cleaned, f"{source}[{theirs!r}]")

    def checkpoint_dict(self) -> dict[str, dict[str, torch.Tensor]]:
        """The official nested layout, with the ``module.`` prefixes the released file has."""
        return {
            theirs: {f"module.{k}": v for k, v in getattr(self, ours).state_dict().items()}
            for ours, theirs in CHECKPOINT_NAMES.items()
        }
