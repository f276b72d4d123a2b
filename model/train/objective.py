"""The official training objective of the motion generator (spec joyvasa.md §7.3), per clip and per step.

Targets are x0 (the network predicts the clean motion); the criterion is the mean squared error over the frames a
mask keeps. Motion vectors are 70-d: 63 expression values, then 7 head-pose values (scale, t, pitch, yaw, roll).

Per clip (:func:`clip_losses`, the official ``compute_loss_new``): L_simple on all 70 dims, the expression's
value / velocity / acceleration terms (L_exp, L_exp_vel, L_exp_smooth), the head pose's (L_head_angle,
L_head_vel, L_head_smooth) and, for the second clip only, L_head_trans (smoothness across the context boundary).
Per step (:func:`step_losses`): the two clips combined and weighted. The official loop's quirk is kept by
default and fixable by a named option: the expression terms are 1.5 x the second clip's (a shadowed variable).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: The expression part of a motion vector; the rest is the head pose.
EXP_DIMS = 63
#: The loss terms, in the order the official loop adds them to the total.
TERMS = ("L_simple", "L_exp", "L_exp_vel", "L_exp_smooth", "L_head_angle", "L_head_vel", "L_head_smooth",
         "L_head_trans")
#: Terms the official loop averages over the two clips (the expression terms are the shadowed ones).
_AVERAGED = ("L_simple", "L_head_angle", "L_head_vel", "L_head_smooth")
_EXPRESSION = ("L_exp", "L_exp_vel", "L_exp_smooth")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the terms in the total (official train.py defaults); L_simple has weight 1."""

    exp: float = 0.1
    exp_vel: float = 1e-4
    exp_smooth: float = 1e-4
    head_angle: float = 0.01
    head_vel: float = 0.01
    head_smooth: float = 0.01
    head_trans: float = 0.01

    def of(self, term: str) -> float:
        """The weight of ``term`` (one of :data:`TERMS`)."""
        return 1.0 if term == "L_simple" else getattr(self, term[2:])


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | None:
    """Mean of ``values`` (N, T, D) over the frames ``mask`` (N, T) keeps; None when it keeps none."""
    kept = values[mask]
    return kept.mean() if kept.numel() else None


def _velocity(x: torch.Tensor) -> torch.Tensor:
    return x[:, 1:] - x[:, :-1]


def frame_mask(end_idx: torch.Tensor | None, batch: int, n_motions: int, n_context: int = 0,
               device: torch.device | str = "cpu") -> torch.Tensor:
    """(N, n_context + L) bool: the context frames, then the window's frames before ``end_idx`` (N,) (all of
    them when None: the clip was not truncated)."""
    frames = torch.arange(n_motions, device=device).expand(batch, -1)
    window = torch.ones(batch, n_motions, dtype=torch.bool, device=device) if end_idx is None else (
        frames < end_idx.to(device).unsqueeze(1))
    return torch.cat([torch.ones(batch, n_context, dtype=torch.bool, device=device), window], dim=1)


def clip_losses(
    motion_gt: torch.Tensor, x0_pred: torch.Tensor, prev_motion: torch.Tensor | None, end_idx: torch.Tensor | None,
    n_prev: int,
) -> dict[str, torch.Tensor]:
    """The loss terms of one clip.

    ``motion_gt`` (N, L, 70): the clip's motion as the network saw it (zeros from ``end_idx`` when truncated);
    ``x0_pred`` (N, P + L, 70): the network's prediction for context and window. ``prev_motion`` (N, P, 70):
    None for the first clip (its loss is on the window only), else the context, whose predictions are then
    checked too (always kept by the mask) and which leads L_head_trans. ``end_idx`` (N,): the truncation.
    """
    batch, n_motions = motion_gt.shape[:2]
    first = prev_motion is None
    gt = motion_gt if first else torch.cat([prev_motion, motion_gt], dim=1)
    pred = x0_pred[:, n_prev:] if first else x0_pred
    mask = frame_mask(end_idx, batch, n_motions, 0 if first else n_prev, motion_gt.device)
    losses: dict[str, torch.Tensor | None] = {"L_simple": _masked_mean(F.mse_loss(gt, pred, reduction="none"), mask)}
    for name, part in (("exp", slice(0, EXP_DIMS)), ("head", slice(EXP_DIMS, None))):
        part_gt, part_pred = gt[..., part], pred[..., part]
        velocity = _velocity(part_pred)
        terms = {
            "angle" if name == "head" else "": (F.mse_loss(part_gt, part_pred, reduction="none"), mask),
            "vel": (F.mse_loss(_velocity(part_gt), velocity, reduction="none"), mask[:, 1:]),
            "smooth": (F.mse_loss(velocity[:, 1:], velocity[:, :-1], reduction="none"), mask[:, 2:]),
        }
        for suffix, (values, kept) in terms.items():
            losses[f"L_{name}" + (f"_{suffix}" if suffix else "")] = _masked_mean(values, kept)
    if not first:
        # Three context poses (ground truth), then the first three predicted: no jump across the boundary.
        trans = torch.cat([gt[:, n_prev - 3 : n_prev, EXP_DIMS:], pred[:, n_prev : n_prev + 3, EXP_DIMS:]], dim=1)
        velocity = _velocity(trans)
        acceleration = _velocity(velocity)
        trans_vel = F.mse_loss(velocity[:, 2:4], velocity[:, 1:3], reduction="none")
        trans_acc = F.mse_loss(acceleration[:, 1:], acceleration[:, :-1], reduction="none")
        losses["L_head_trans"] = (trans_vel[mask[:, n_prev : n_prev + 2]].mean()
                                  + trans_acc[mask[:, n_prev : n_prev + 3]].mean())
    return {k: v for k, v in losses.items() if v is not None}


def step_losses(
    clips: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]], weights: LossWeights = LossWeights(),
    per_clip_expression_loss: bool = False,
) -> dict[str, torch.Tensor]:
    """The terms of a training step from its two clips' (:func:`clip_losses`), and ``total``.

    Officially the expression terms are 1.5 x the second clip's (the first clip's are computed, then lost to a
    shadowed variable); ``per_clip_expression_loss`` averages them over both clips instead, as the other terms
    are. L_head_trans comes from the second clip only. Sums are formed in the official order (float32).
    """
    first, second = clips
    zero = first["L_simple"].new_zeros(())
    step: dict[str, torch.Tensor] = {}
    for term in TERMS:
        if term == "L_head_trans":
            step[term] = zero + second[term] if term in second else zero
        elif term in _EXPRESSION and not per_clip_expression_loss:
            step[term] = second[term] + second[term] / 2
        else:
            step[term] = zero
            for clip in clips:
                if term in clip:
                    step[term] = step[term] + clip[term] / 2
    total = step["L_simple"]
    for term in TERMS[1:]:
        total = total + weights.of(term) * step[term]
    step["total"] = total
    return step
