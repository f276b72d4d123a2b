"""Dense motion network of LivePortrait's warping module W: keypoints -> dense 3-D flow + occlusion.

For every voxel of the source feature volume it predicts where to sample from, as a softmax-weighted
mix of K+1 candidate flows (the identity and one pure translation per keypoint), and a 2-D occlusion
map (spec liveportrait.md §2.3, steps 1-8). Attribute names are the official state-dict names
(``compress``, ``norm``, ``hourglass``, ``mask``, ``occlusion``).

The work that depends only on the source (``compress`` + ``norm`` on the feature volume, the
coordinate lattice, the source Gaussians) is split out into :meth:`DenseMotionNetwork.prepare_source`
so a renderer can compute it once per source image and drive it with many keypoint sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model.render.blocks import Hourglass
from model.render.config import WarpingConfig

#: Variance of the keypoint Gaussians in normalised coordinates (official ``kp_variance``).
KP_VARIANCE = 0.01


def coordinate_grid(depth: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """Normalised voxel coordinates (D, H, W, 3), last axis (x right, y down, z in), each in [-1, 1].

    Coordinate j of an axis of size N is 2 j / (N - 1) - 1: an align_corners=True lattice, although
    every grid_sample that consumes it uses align_corners=False (spec §2.3.1). The network was
    trained with that mismatch (a 64/63 in-plane, 16/15 in-depth zoom), so it is kept. dtype and
    device follow ``like``; the expression order is the official one, for identical rounding.
    """

    def axis(n: int) -> torch.Tensor:
        return 2 * (torch.arange(n, dtype=like.dtype, device=like.device) / (n - 1)) - 1

    x = axis(width).view(1, 1, width).expand(depth, height, width)
    y = axis(height).view(1, height, 1).expand(depth, height, width)
    z = axis(depth).view(depth, 1, 1).expand(depth, height, width)
    return torch.stack([x, y, z], dim=-1)


def keypoint_gaussians(kp: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """exp(-|grid - kp|^2 / (2 KP_VARIANCE)) per keypoint: kp (B, K, 3), grid (D, H, W, 3) -> (B, K, D, H, W)."""
    diff = grid - kp[:, :, None, None, None, :]
    return torch.exp(-0.5 * (diff**2).sum(-1) / KP_VARIANCE)


def broadcast_batch(*batches: int) -> int:
    """The common batch size of inputs whose batch is either 1 or the same B; ValueError otherwise."""
    sizes = set(batches) - {1}
    if len(sizes) > 1:
        raise ValueError(f"batch sizes {batches} do not broadcast: each must be 1 or the same B")
    return sizes.pop() if sizes else 1


@dataclass(frozen=True)
class DenseMotionSource:
    """Source-only tensors of the dense motion network, reusable for any number of driving keypoint sets.

    ``compressed`` (Bs, compress, D, H, W): ReLU(norm(compress(f_s))); ``kp_source`` (Bs, K, 3);
    ``gaussians`` (Bs, K, D, H, W): the source keypoint Gaussians; ``grid`` (D, H, W, 3): the lattice.
    Bs is 1 (one source shared by a batch of frames) or the frame batch B.
    """

    compressed: torch.Tensor
    kp_source: torch.Tensor
    gaussians: torch.Tensor
    grid: torch.Tensor


class DenseMotionNetwork(nn.Module):
    """Dense motion of W: (f_s, x_s, x_d) -> deformation (B, D, H, W, 3) and occlusion map (B, 1, H, W).

    ``deformation`` holds normalised (x, y, z) sampling positions in the source volume for every
    voxel of the driving frame; ``occlusion_map`` is in (0, 1).
    """

    def __init__(self, config: WarpingConfig) -> None:
        super().__init__()
        params = config.dense_motion
        self.num_kp = config.num_kp
        # Per candidate flow (K keypoints + identity): one heatmap channel + `compress` feature channels.
        self.hourglass = Hourglass(
            block_expansion=params.block_expansion,
            in_features=(config.num_kp + 1) * (params.compress + 1),
            num_blocks=params.num_blocks,
            max_features=params.max_features,
        )
        self.mask = nn.Conv3d(self.hourglass.out_filters, config.num_kp + 1, kernel_size=7, padding=3)
        self.compress = nn.Conv3d(config.reshape_channel, params.compress, kernel_size=1)
        self.norm = nn.BatchNorm3d(params.compress, affine=True)
        self.occlusion = (
            nn.Conv2d(self.hourglass.out_filters * params.reshape_depth, 1, kernel_size=7, padding=3)
            if config.estimate_occlusion_map
            else None
        )

    def prepare_source(self, feature: torch.Tensor, kp_source: torch.Tensor) -> DenseMotionSource:
        """Source-only work: feature (Bs, reshape_channel, D, H, W), kp_source (Bs, K, 3)."""
        compressed = F.relu(self.norm(self.compress(feature)))
        grid = coordinate_grid(*compressed.shape[2:], like=kp_source)
        return DenseMotionSource(compressed, kp_source, keypoint_gaussians(kp_source, grid), grid)

    def drive(self, source: DenseMotionSource, kp_driving: torch.Tensor) -> dict[str, torch.Tensor]:
        """Dense motion for driving keypoints (B, K, 3) -> {``deformation``, ``occlusion_map`` (if estimated)}.

        The source batch must be 1 (broadcast without copying the volume) or B.
        """
        batch = broadcast_batch(source.compressed.shape[0], source.kp_source.shape[0], kp_driving.shape[0])
        num_flows = self.num_kp + 1
        channels, depth, height, width = source.compressed.shape[1:]
        grid = source.grid

        # Candidate flows: k = 0 is the identity; k >= 1 moves driving keypoint k onto source keypoint k
        # (zeroth order only: no Jacobians). Kept as (grid - x_d) + x_s for the official rounding.
        shift = (grid - kp_driving[:, :, None, None, None, :]) + source.kp_source[:, :, None, None, None, :]
        identity = grid.expand(batch, 1, depth, height, width, 3)
        flows = torch.cat([identity, shift.expand(batch, -1, -1, -1, -1, -1)], dim=1)  # (B, K+1, D, H, W, 3)

        # Sample the compressed source volume once per candidate flow. expand() shares the source
        # memory across the K+1 flows (and across frames when the source batch is 1).
        volume = source.compressed.unsqueeze(1).expand(batch, num_flows, channels, depth, height, width)
        deformed = F.grid_sample(
            volume.reshape(batch * num_flows, channels, depth, height, width),
            flows.view(batch * num_flows, depth, height, width, 3),
            mode="bilinear",
            padding_mode="zeros",
            align_corners=False,
        ).view(batch, num_flows, channels, depth, height, width)

        heatmaps = keypoint_gaussians(kp_driving, grid) - source.gaussians
        background = heatmaps.new_zeros(heatmaps.shape[0], 1, depth, height, width)
        heatmaps = torch.cat([background, heatmaps], dim=1).unsqueeze(2).expand(batch, -1, -1, -1, -1, -1)

        # Hourglass channels are ordered k * (compress + 1) + c with c = 0 the heatmap.
        hourglass_in = torch.cat([heatmaps, deformed], dim=2).view(batch, -1, depth, height, width)
        prediction = self.hourglass(hourglass_in)

        weights = F.softmax(self.mask(prediction), dim=1).unsqueeze(2)  # (B, K+1, 1, D, H, W)
        deformation = (flows.permute(0, 1, 5, 2, 3, 4) * weights).sum(dim=1).permute(0, 2, 3, 4, 1)
        out = {"deformation": deformation}
        if self.occlusion is not None:
            # Channel index c * D + d: the depth axis folds into the channels.
            out["occlusion_map"] = torch.sigmoid(self.occlusion(prediction.view(batch, -1, height, width)))
        return out

    def forward(
        self, feature: torch.Tensor, *, kp_source: torch.Tensor, kp_driving: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """feature (B, reshape_channel, D, H, W), kp_source / kp_driving (B, K, 3) -> see :meth:`drive`.

        Keypoints are keyword-only: the official signature orders them (driving, source), so a
        positional call written for it would silently swap them.
        """
        return self.drive(self.prepare_source(feature, kp_source), kp_driving)
