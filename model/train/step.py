"""One training iteration of the motion generator, as the official ``train.py`` runs it (spec joyvasa.md §7.3).

Each batch item is a 200-frame stretch of a talking-head video cut into two chained clips of L = 100 frames (and
their 4 s of audio). Clip 0 starts from the learned start tokens; clip 1 is teacher-forced with clip 0's last P
ground-truth frames and audio features as context. Every random choice of an iteration (truncation, where, null
audio, diffusion step, noise) is drawn up front into :class:`StepDraws`, so an iteration can be replayed exactly
(the golden test feeds the official run's draws) and training is reproducible from one generator seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from model.motion.generator import MotionGenerator
from model.train.objective import LossWeights, clip_losses, step_losses

#: Clips per training item (the official loop chains two).
N_CLIPS = 2


@dataclass(frozen=True)
class TrainingObjective:
    """The official objective's settings (train.py defaults).

    trunc_probs: per clip, the probability that the clip is truncated at a random frame (its audio and motion
    zeroed from there, the loss masked). null_audio_prob: per item, the probability that the audio condition
    becomes the learned null token (classifier-free guidance). per_clip_expression_loss: the fix for the
    official shadowed-variable bug (see :func:`model.train.objective.step_losses`). clip_grad: the global norm
    the gradients are clipped to (None: no clipping).
    """

    trunc_probs: tuple[float, float] = (0.3, 0.4)
    null_audio_prob: float = 0.1
    weights: LossWeights = field(default_factory=LossWeights)
    per_clip_expression_loss: bool = False
    clip_grad: float | None = 2.0


@dataclass(frozen=True)
class ClipDraws:
    """The random choices of one clip for a batch of N: ``truncated`` (one decision for the batch),
    ``end_idx`` (N,) int64 in 1..L-1 (used when truncated), ``null_audio`` (N,) bool, ``t`` (N,) int64 in 1..T,
    ``eps`` (N, L, m) the diffusion noise."""

    truncated: bool
    end_idx: torch.Tensor
    null_audio: torch.Tensor
    t: torch.Tensor
    eps: torch.Tensor


@dataclass(frozen=True)
class StepDraws:
    """The random choices of one iteration, clip by clip."""

    clips: tuple[ClipDraws, ClipDraws]

    @classmethod
    def sample(
        cls, model: MotionGenerator, batch: int, objective: TrainingObjective, generator: torch.Generator
    ) -> StepDraws:
        """Draws for ``batch`` items from ``generator`` (a CPU generator: the same draws on every device)."""
        config = model.config
        shape = (batch, config.n_motions, config.motion_feat_dim)
        clips = []
        for prob in objective.trunc_probs:
            clips.append(ClipDraws(
                truncated=bool(torch.rand((), generator=generator) < prob),
                end_idx=torch.randint(1, config.n_motions, (batch,), generator=generator),
                null_audio=torch.rand(batch, generator=generator) < objective.null_audio_prob,
                t=torch.randint(1, config.n_diff_steps + 1, (batch,), generator=generator),
                eps=torch.randn(shape, generator=generator),
            ))
        return cls((clips[0], clips[1]))


@dataclass
class StepResult:
    """What an iteration computed: ``losses`` (the step's terms and ``total``), ``clip_losses`` per clip,
    ``x0_pred`` per clip (N, P + L, m), ``audio_feat`` per clip (N, L, d) before the null substitution, the
    context given to clip 1 (``prev_motion`` (N, P, m), ``prev_audio_feat`` (N, P, d)), and after
    :func:`train_step` the gradient norm before clipping."""

    losses: dict[str, torch.Tensor]
    clip_losses: list[dict[str, torch.Tensor]]
    x0_pred: list[torch.Tensor]
    audio_feat: list[torch.Tensor]
    prev_motion: torch.Tensor
    prev_audio_feat: torch.Tensor
    grad_norm: float | None = None


def prepare_for_training(model: MotionGenerator) -> MotionGenerator:
    """Train mode with the official trainable set: everything but the audio encoder's conv feature encoder."""
    model.train()
    model.audio_encoder.feature_extractor._freeze_parameters()
    return model


def disable_dropout(model: MotionGenerator) -> MotionGenerator:
    """Every random layer of training off (dropout, attention dropout, LayerDrop, SpecAugment): a training step
    becomes a deterministic function of its draws (for overfitting, or matching a run across process counts)."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        elif isinstance(module, nn.MultiheadAttention):
            module.dropout = 0.0
        elif isinstance(getattr(module, "dropout", None), float):
            module.dropout = 0.0  # transformers' attention modules keep their rate as a float
    config = model.audio_encoder.config
    config.layerdrop = 0.0
    config.apply_spec_augment = False  # the masking parameters stay: the parameter set is unchanged
    return model


def truncate(audio: torch.Tensor, motion: torch.Tensor, end_idx: torch.Tensor, fps: int) -> tuple[torch.Tensor,
                                                                                                  torch.Tensor]:
    """Audio (N, S) zeroed from sample ``end_idx * 16000 / fps`` and motion (N, L, m) from frame ``end_idx``."""
    samples = torch.arange(audio.shape[1], device=audio.device)
    audio_end = (end_idx.to(audio.device) * (16000.0 / fps)).long()
    frames = torch.arange(motion.shape[1], device=motion.device)
    audio = audio * (samples.unsqueeze(0) < audio_end.unsqueeze(1))
    motion = motion * (frames.unsqueeze(0) < end_idx.to(motion.device).unsqueeze(1)).unsqueeze(-1)
    return audio, motion


def _denoise(
    model: MotionGenerator, motion: torch.Tensor, audio_feat: torch.Tensor, prev_motion: torch.Tensor,
    prev_audio_feat: torch.Tensor, draws: ClipDraws,
) -> torch.Tensor:
    """The forward diffusion to step t and the network's x0 prediction (N, P + L, m)."""
    batch = motion.shape[0]
    condition = torch.where(draws.null_audio.to(motion.device).view(-1, 1, 1),
                            model.null_audio_feat.expand(batch, model.config.n_motions, -1), audio_feat)
    t = draws.t.to(motion.device)
    alpha_bar = model.diffusion_sched.alpha_bars[t]
    noisy = alpha_bar.sqrt().view(-1, 1, 1) * motion + (1 - alpha_bar).sqrt().view(-1, 1, 1) * draws.eps.to(motion)
    return model.denoising_net(noisy, condition, prev_motion, prev_audio_feat, t)


def step_forward(
    model: MotionGenerator, audio: tuple[torch.Tensor, torch.Tensor], motion: tuple[torch.Tensor, torch.Tensor],
    draws: StepDraws, objective: TrainingObjective = TrainingObjective(),
) -> StepResult:
    """The losses of one iteration on a batch: ``audio`` two (N, 64000) 16 kHz clips, ``motion`` two (N, L, 70)
    normalised motion clips (the dataset's ``audio_pair`` and ``coef_pair``)."""
    config = model.config
    n_prev = config.n_prev_motions
    batch = motion[0].shape[0]
    prev_motion = model.start_motion_feat.expand(batch, -1, -1)
    prev_audio = model.start_audio_feat.expand(batch, -1, -1)
    per_clip, predictions, features = [], [], []
    for index, clip in enumerate(draws.clips):
        end_idx = clip.end_idx if clip.truncated else None
        audio_in, motion_in = (audio[index], motion[index]) if end_idx is None else truncate(
            audio[index], motion[index], end_idx, config.fps)
        audio_feat = model.extract_audio_feature(audio_in)
        x0_pred = _denoise(model, motion_in, audio_feat, prev_motion, prev_audio, clip)
        per_clip.append(clip_losses(motion_in, x0_pred, None if index == 0 else prev_motion, end_idx, n_prev))
        predictions.append(x0_pred)
        features.append(audio_feat)
        if index == 0:
            # Clip 1's context: clip 0's ground truth and audio features (of the whole clip, not the truncated).
            prev_motion = motion[0][:, -n_prev:]
            if end_idx is None:
                prev_audio = audio_feat.detach()[:, -n_prev:]
            else:
                with torch.no_grad():
                    prev_audio = model.extract_audio_feature(audio[0])[:, -n_prev:]
    losses = step_losses((per_clip[0], per_clip[1]), objective.weights, objective.per_clip_expression_loss)
    return StepResult(losses, per_clip, predictions, features, prev_motion, prev_audio)


def train_step(
    model: MotionGenerator, optimizer: torch.optim.Optimizer, audio: tuple[torch.Tensor, torch.Tensor],
    motion: tuple[torch.Tensor, torch.Tensor], draws: StepDraws,
    objective: TrainingObjective = TrainingObjective(),
) -> StepResult:
    """One optimisation step: the losses, backward, gradient clipping (global norm), the optimiser's step."""
    optimizer.zero_grad(set_to_none=True)
    result = step_forward(model, audio, motion, draws, objective)
    result.losses["total"].backward()
    if objective.clip_grad is not None:
        result.grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), objective.clip_grad))
    optimizer.step()
    return result
