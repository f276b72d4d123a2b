"""Audio features as the official JoyVASA path computes them, over a HuBERT/wav2vec2 model's submodules.

Official path (``DitTalkingHead.extract_audio_feature`` with its HuBERT ``forward`` override):
waveform padding, conv features at 50 Hz, truncation and linear resampling to 2L frames, feature
projection, transformer encoder, linear resampling back to L frames, 768 -> d map. transformers 5
wraps ``HubertModel.forward`` in output-capturing decorators, so the path is written as a function
over ``feature_extractor``, ``feature_projection`` and ``encoder`` instead of a ``forward`` override.
The encoder must be in eval mode: SpecAugment masking and LayerDrop apply only in training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model.audio.encoder import AudioEncoder

#: Frame rate of the conv feature encoder for 16 kHz input (stride 320 samples).
CONV_FEATURE_RATE_HZ = 50
#: The official model encodes at 25 fps (its class default; the checkpoint's fps is never passed).
OFFICIAL_OUTPUT_FPS = 25
PAD_UNIT = 320
PAD_THRESHOLD = 80


def pad_audio(audio: torch.Tensor, unit: int = PAD_UNIT, threshold: int = PAD_THRESHOLD) -> torch.Tensor:
    """Official waveform padding (``common.pad_audio``): (N, S) -> (N, S + 2*side) samples.

    ``side = ceil((unit*floor(S/unit) + threshold - S) / 2)``; when ``side >= 0`` the signal gets two
    successive reflect pads of ``side // 2`` samples per side (the second reflects the already
    padded signal) and, for odd ``side``, one replicated sample per side. 64000 samples -> 64080,
    which the conv encoder turns into exactly 200 frames.
    """
    n_units = audio.shape[-1] // unit
    side = math.ceil((unit * n_units + threshold - audio.shape[-1]) / 2)
    if side < 0:
        return audio
    reflect = side // 2
    if reflect > 0:
        audio = F.pad(audio, (reflect, reflect), mode="reflect")
        audio = F.pad(audio, (reflect, reflect), mode="reflect")
    if side % 2:
        audio = F.pad(audio, (1, 1), mode="replicate")
    return audio


@dataclass(frozen=True)
class AudioFeatureTrace:
    """Every stage of :func:`trace_audio_features` (float32, batch N).

    padded_audio: (N, S') 16 kHz after :func:`pad_audio`.
    conv_features: (N, C, F) conv feature encoder output at 50 Hz (C = 512 for base models).
    hidden_states: (N, 2L, H) encoder output (H = 768 for base models).
    audio_feat: (N, L, d) after resampling to L frames and the feature map.
    """

    padded_audio: torch.Tensor
    conv_features: torch.Tensor
    hidden_states: torch.Tensor
    audio_feat: torch.Tensor


def _resample_frames(features: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Linear resampling along time of (N, C, F) to (N, C, n_frames), half-pixel centres."""
    return F.interpolate(features, size=n_frames, mode="linear", align_corners=False)


def encode_frames(
    encoder: AudioEncoder, padded_audio: torch.Tensor, n_frames: int, output_fps: int = OFFICIAL_OUTPUT_FPS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded 16 kHz audio (N, S') -> (conv features (N, C, F), hidden states (N, n_frames, H)).

    Conv features are cut to the frames that ``n_frames`` at ``output_fps`` span and resampled to
    ``n_frames`` before the projection and the transformer (the official HuBERT override). In training mode the
    encoder masks time steps (SpecAugment) and applies its dropout and LayerDrop, as the official one does.
    """
    conv = encoder.feature_extractor(padded_audio)
    kept = conv[:, :, : round(n_frames * CONV_FEATURE_RATE_HZ / output_fps)]
    hidden = _resample_frames(kept, n_frames).transpose(1, 2)
    hidden = encoder.feature_projection(hidden)
    if isinstance(hidden, tuple):  # wav2vec2 also returns the normalised input; HuBERT a tensor
        hidden = hidden[0]
    if encoder.training:  # training, as officially: SpecAugment time masking here, dropout and LayerDrop below
        hidden = encoder._mask_hidden_states(hidden)
    return conv, encoder.encoder(hidden)[0]


def trace_audio_features(
    encoder: AudioEncoder,
    feature_map: nn.Linear,
    audio: torch.Tensor,
    n_frames: int,
    output_fps: int = OFFICIAL_OUTPUT_FPS,
) -> AudioFeatureTrace:
    """16 kHz waveforms (N, S) -> every stage of the official feature path (see :class:`AudioFeatureTrace`).

    The encoder runs at 2 * ``n_frames`` frames, whose states are then resampled to ``n_frames``
    (for 200 -> 100 this is the mean of each frame pair) and mapped by ``feature_map``.
    """
    if audio.ndim != 2:
        raise ValueError(f"audio must be (N, samples), got shape {tuple(audio.shape)}")
    padded = pad_audio(audio)
    conv, hidden = encode_frames(encoder, padded, 2 * n_frames, output_fps)
    resampled = _resample_frames(hidden.transpose(1, 2), n_frames).transpose(1, 2)
    return AudioFeatureTrace(padded, conv, hidden, feature_map(resampled))


def extract_audio_features(
    encoder: AudioEncoder,
    feature_map: nn.Linear,
    audio: torch.Tensor,
    n_frames: int,
    output_fps: int = OFFICIAL_OUTPUT_FPS,
) -> torch.Tensor:
    """16 kHz waveforms (N, S) -> audio features (N, n_frames, d), the official ``extract_audio_feature``."""
    return trace_audio_features(encoder, feature_map, audio, n_frames, output_fps).audio_feat
