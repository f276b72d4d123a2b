"""Source preparation (once per image) and batched rendering of driving keypoints into frames.

The source image goes through F and M exactly once (:func:`prepare_source`); everything W needs
from the source alone is cached with it. Frames are then rendered in batches: W's driving half and
G run on ``batch_size`` keypoint sets at a time against the shared source state (batching is exact:
BatchNorm is in eval mode and InstanceNorm is per sample; spec liveportrait.md §9.6).

Half precision (spec liveportrait.md §9.2): W and G run under ``torch.autocast`` with float16 or
bfloat16 when asked, on whatever device the networks are on (the official code uses float16 on
CUDA). Autocast keeps grid_sample, softmax and the norms in float32 by its own policy. F, M and the
stitching MLP always run in float32 (F and M once per source, so half precision would save nothing
worth their accuracy). The rendered images are returned in float32, as the official
``warp_decode`` does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from model.render.composition import SourceMotion
from model.render.config import NETWORK_INPUT_SIZE
from model.render.loading import RendererNetworks
from model.render.motion_extractor import kp_info
from model.render.warping import WarpSource

#: Frames per W+G call. Measured on a 2-core CPU: batch 4 halves the per-frame time of the small test
#: sizes and leaves full size unchanged; each full-size frame of a batch adds about 0.5 GB of peak
#: float32 activations.
DEFAULT_BATCH_SIZE = 4
#: Autocast dtypes accepted as half precision; None or float32 renders in float32.
HALF_DTYPES = (torch.float16, torch.bfloat16)


@dataclass(frozen=True)
class PreparedSource:
    """One source image, ready to render any number of frames.

    feature_3d (1, C, D, H, W) the appearance volume f_s (officially 32x16x64x64); motion: its
    keypoint info and x_s; warp: W's source-only state (f_s, compressed volume, source Gaussians).
    """

    feature_3d: torch.Tensor
    motion: SourceMotion
    warp: WarpSource


def network_device(nets: RendererNetworks) -> torch.device:
    """The device the renderer networks live on."""
    return next(nets.appearance.parameters()).device


def source_tensor(image: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """The network input I_s (1, 3, H, W) float32 RGB in [0, 1], no mean/std normalisation.

    ``image``: uint8 (H, W, 3) RGB, resized to NETWORK_INPUT_SIZE x NETWORK_INPUT_SIZE with cv2's default bilinear
    filter when it has another size (as the official ``prepare_source``), then / 255; or an already
    prepared float tensor (1, 3, H, W) in [0, 1], used as is.
    """
    if isinstance(image, torch.Tensor):
        if image.ndim != 4 or image.shape[:2] != (1, 3) or not image.is_floating_point():
            raise ValueError(f"a prepared source must be float (1, 3, H, W), got {image.dtype} {tuple(image.shape)}")
        return image.to(device, torch.float32)
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"source image must be uint8 (H, W, 3) RGB, got {image.dtype} {image.shape}")
    if image.shape[:2] != (NETWORK_INPUT_SIZE, NETWORK_INPUT_SIZE):
        image = cv2.resize(image, (NETWORK_INPUT_SIZE, NETWORK_INPUT_SIZE))
    x = torch.from_numpy(np.ascontiguousarray(image)).to(device)
    return (x.float() / 255).permute(2, 0, 1).unsqueeze(0)


@torch.inference_mode()
def attach_source(nets: RendererNetworks, feature_3d: torch.Tensor, motion: SourceMotion) -> PreparedSource:
    """A prepared source from already computed F and M results (e.g. a cache hit): only W's source part runs."""
    return PreparedSource(feature_3d, motion, nets.warping.prepare_source(feature_3d, motion.x_s))


@torch.inference_mode()
def prepare_source(
    nets: RendererNetworks, image: np.ndarray | torch.Tensor, lip_ratio: float | None = None,
    eye_ratio: tuple[float, float] | None = None,
) -> PreparedSource:
    """Run F and M once on the source (see :func:`source_tensor` for ``image``), in float32.

    ``lip_ratio``, ``eye_ratio``: the source's lip-open and (left, right) eye-open ratios from its 203 landmarks,
    for lip normalisation and the eye controls.
    """
    x = source_tensor(image, network_device(nets))
    motion = SourceMotion.from_kp_info(kp_info(nets.motion_extractor(x)), lip_ratio, eye_ratio)
    return attach_source(nets, nets.appearance(x), motion)


def _precision(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast for a half dtype, nothing for float32 / None."""
    if dtype is None or dtype == torch.float32:
        return contextlib.nullcontext()
    if dtype not in HALF_DTYPES:
        raise ValueError(f"render dtype must be float32, float16 or bfloat16, got {dtype}")
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.inference_mode()
def _warp_decode(
    nets: RendererNetworks, source: PreparedSource, x_d: torch.Tensor, dtype: torch.dtype | None
) -> torch.Tensor:
    """G(W(f_s, x_s, x_d)) for one batch x_d (B, K, 3) -> (B, 3, H, W) float32 in [0, 1]."""
    with _precision(x_d.device, dtype):
        image = nets.spade(nets.warping.drive(source.warp, x_d)["out"])
    return image.float()


def render_float(
    nets: RendererNetworks,
    source: PreparedSource,
    x_d: torch.Tensor,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dtype: torch.dtype | None = None,
) -> Iterator[torch.Tensor]:
    """Images for driving keypoints x_d (n, K, 3): yields (B, 3, H, W) float32 in [0, 1], B <= batch_size,
    on the networks' device (officially 512x512). ``dtype``: float16 / bfloat16 autocast, or None.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    x_d = x_d.to(source.feature_3d.device, torch.float32)
    for start in range(0, x_d.shape[0], batch_size):
        # Computed inside a helper so grad mode and autocast never stay switched while suspended.
        yield _warp_decode(nets, source, x_d[start : start + batch_size], dtype)


def to_uint8_frames(images: torch.Tensor) -> torch.Tensor:
    """The official ``parse_output``: (B, 3, H, W) float -> (B, H, W, 3) uint8 via clip to [0, 1], * 255,
    truncating cast; on the images' device."""
    return (images.clamp(0, 1) * 255).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def render(
    nets: RendererNetworks,
    source: PreparedSource,
    x_d: torch.Tensor,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dtype: torch.dtype | None = None,
) -> Iterator[torch.Tensor]:
    """Frames for driving keypoints x_d (n, K, 3): yields uint8 (B, H, W, 3) RGB batches on the networks'
    device, in frame order; see :func:`render_float` for the options."""
    for images in render_float(nets, source, x_d, batch_size=batch_size, dtype=dtype):
        yield to_uint8_frames(images)
