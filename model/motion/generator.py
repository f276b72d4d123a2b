"""JoyVASA's motion generator: audio encoder, learned context tokens, denoising transformer, schedule.

API used by the samplers (``model.motion.sampler`` / ``windows``); all tensors float32, on the
module's device. ``P`` = ``config.n_prev_motions``, ``L`` = ``config.n_motions`` (frames at 25 fps),
``m`` = ``config.motion_feat_dim``, ``d`` = ``config.feature_dim``, ``T`` = ``config.n_diff_steps``.

* ``model.config``: :class:`MotionGeneratorConfig` (the checkpoint's args; wrapper fields ``fps``,
  ``pad_mode``, ``use_indicator`` included).
* ``model.extract_audio_feature(audio)``: 16 kHz waveform windows (N, S) -> audio features (N, L, d).
  The official path feeds exactly ``S = 64000`` samples (4 s) per window; HuBERT runs once per window.
* ``model.start_motion_feat`` (1, P, m), ``model.start_audio_feat`` (1, P, d): context of window 0.
  ``model.null_audio_feat`` (1, 1, d): unconditional audio token (classifier-free guidance),
  broadcast to (N, L, d) for the current window only.
* ``model.denoising_net(motion, audio_feat, prev_motion, prev_audio_feat, step)`` ->
  (N, P + L, m): x0 prediction for the context and the window; samplers use ``[:, P:]``.
  ``motion`` (N, L, m), ``audio_feat`` (N, L, d), ``prev_motion`` (N, P, m),
  ``prev_audio_feat`` (N, P, d), ``step`` (N,) int64 in 1..T.
* Fast path: ``terms = model.denoising_net.precompute_memory(prev_audio_feat, audio_feat)``
  (n_layers, N, P + L, d) once per window (it depends only on the audio features, not on the step),
  then ``model.denoising_net(motion, None, prev_motion, None, step, memory_terms=terms)`` at
  every step. Terms of different batches concatenate along dim 1 (e.g. a null-audio half computed
  once and a conditional half per window).
* ``model.diffusion_sched.betas / alphas / alpha_bars / sigmas_flex / sigmas_inflex``: (T + 1,)
  each, index t = 0..T with beta_0 = 0 (loaded from the checkpoint like the official loader does).

Build it with :func:`model.motion.checkpoint.load_motion_generator` from an official checkpoint.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from model.audio.encoder import AudioEncoderConfig, build_audio_encoder, encoder_kind
from model.audio.features import OFFICIAL_OUTPUT_FPS, extract_audio_features
from model.motion.denoiser import DenoisingNetwork, PositionalEncodingMode
from model.motion.schedule import DiffusionSchedule

#: The checkpoint args the official loader builds the network from; everything else is a class default.
ARGS_READ_BY_LOADER = ("motion_feat_dim", "n_motions", "n_prev_motions", "feature_dim", "audio_model", "n_diff_steps")
#: The checkpoint args the official inference wrapper reads (windowing and padding).
ARGS_READ_BY_WRAPPER = ("fps", "pad_mode", "use_indicator")
PAD_MODES = ("zero", "replicate")


@dataclass(frozen=True)
class MotionGeneratorConfig:
    """Sizes and wrapper settings of a motion generator, as saved in the checkpoint's ``args``.

    ``n_heads``, ``n_layers`` and ``mlp_ratio`` are the official class defaults: the official
    loader never passes them (training scripts store e.g. ``n_layers=6`` in the args, yet every
    released network has 8 layers), so :meth:`from_args` does not read them either.
    """

    motion_feat_dim: int
    n_motions: int
    n_prev_motions: int
    feature_dim: int
    audio_model: str
    n_diff_steps: int
    fps: int = 25
    pad_mode: str = "zero"
    use_indicator: bool = False
    n_heads: int = 8
    n_layers: int = 8
    mlp_ratio: int = 4

    def __post_init__(self) -> None:
        for name in ("motion_feat_dim", "n_motions", "n_prev_motions", "feature_dim", "n_diff_steps", "fps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"MotionGeneratorConfig.{name} must be a positive int, got {value!r}")
        encoder_kind(self.audio_model)  # raises on an unknown encoder name
        if self.pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {self.pad_mode!r}")
        if self.feature_dim % self.n_heads or self.feature_dim % 2:
            raise ValueError(f"feature_dim {self.feature_dim} must be even and divisible by n_heads {self.n_heads}")

    @classmethod
    def from_args(cls, args: argparse.Namespace | Mapping[str, Any]) -> MotionGeneratorConfig:
        """Read the official checkpoint ``args`` (a Namespace or a dict).

        Missing wrapper fields take the defaults above (the official wrapper would read None);
        a missing network field is an error.
        """
        values = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
        missing = [k for k in ARGS_READ_BY_LOADER if values.get(k) is None]
        if missing:
            raise ValueError(f"checkpoint args lack {missing}; they size the network and cannot be guessed")
        picked = {k: values[k] for k in ARGS_READ_BY_LOADER}
        picked.update({k: values[k] for k in ARGS_READ_BY_WRAPPER if values.get(k) is not None})
        for key in ("motion_feat_dim", "n_motions", "n_prev_motions", "feature_dim", "n_diff_steps", "fps"):
            if key in picked:
                picked[key] = int(picked[key])
        if "use_indicator" in picked:
            picked["use_indicator"] = bool(picked["use_indicator"])
        return cls(**picked)


class MotionGenerator(nn.Module):
    """State-dict compatible with the official ``DitTalkingHead`` checkpoint (``{'model': ...}``).

    Parameters start as zeros (the learned tokens) or as the submodules' defaults: real values
    always come from a checkpoint. ``audio_encoder_config`` is the HuBERT/wav2vec2 config (None:
    the transformers defaults, which are the base architecture the released checkpoint uses).
    Build it under ``torch.device("meta")`` to skip initialisation when every tensor is then
    assigned from a checkpoint (as the loader does).
    """

    def __init__(
        self,
        config: MotionGeneratorConfig,
        audio_encoder_config: AudioEncoderConfig | None = None,
        positional_encoding: PositionalEncodingMode = "legacy",
        attention_backend: str = "sdpa",
    ) -> None:
        super().__init__()
        self.config = config
        p, m, d = config.n_prev_motions, config.motion_feat_dim, config.feature_dim
        self.start_audio_feat = nn.Parameter(torch.zeros(1, p, d))
        self.start_motion_feat = nn.Parameter(torch.zeros(1, p, m))
        self.null_audio_feat = nn.Parameter(torch.zeros(1, 1, d))
        self.audio_encoder = build_audio_encoder(config.audio_model, audio_encoder_config)
        self.audio_feature_map = nn.Linear(self.audio_encoder.config.hidden_size, d)
        self.denoising_net = DenoisingNetwork(
            motion_feat_dim=m,
            feature_dim=d,
            n_motions=config.n_motions,
            n_prev_motions=p,
            n_heads=config.n_heads,
            n_layers=config.n_layers,
            mlp_ratio=config.mlp_ratio,
            positional_encoding=positional_encoding,
            attention_backend=attention_backend,
        )
        self.diffusion_sched = DiffusionSchedule(config.n_diff_steps)

    @property
    def settings(self) -> dict[str, str | bool]:
        """The load-time choices that change the sampled motion beyond the weights (for cache keys)."""
        net = self.denoising_net
        return {"positional_encoding": net.positional_encoding, "attention_backend": net.attention_backend,
                "affine_cross_attention": net.affine_cross_attention}

    def extract_audio_feature(self, audio: torch.Tensor, n_frames: int | None = None) -> torch.Tensor:
        """16 kHz waveforms (N, S) -> audio features (N, n_frames, d); n_frames defaults to L.

        The official model always encodes at 25 fps, whatever ``config.fps`` says (only the
        wrapper reads that).
        """
        n_frames = self.config.n_motions if n_frames is None else n_frames
        return extract_audio_features(
            self.audio_encoder, self.audio_feature_map, audio, n_frames, output_fps=OFFICIAL_OUTPUT_FPS
        )
