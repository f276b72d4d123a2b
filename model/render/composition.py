"""Driving keypoints for every frame: source keypoint info + generated motion -> x_d (n, K, 3).

JoyVASA composes the target keypoints per frame in a Python loop (spec joyvasa.md §5.2 human,
§5.3 animal; liveportrait.md §4.4-4.8). All motion is known before rendering, so here every stage
runs on all n frames at once, in the reference's operation order (so float32 results match it):

1. :func:`compose_motion`: rotation, expression, scale and translation relative to driving frame 0,
   then the expression-friendly motion multiplier (golden ``kp_d_before_stitching``);
2. :func:`stitch_keypoints`: the stitching MLP and the lip-normalisation delta
   (``kp_d_after_stitching``);
3. :func:`apply_driving_multiplier`: ``x_s + (x_d - x_s) * driving_multiplier`` (``kp_d_final``).

:func:`driving_keypoints` chains the three. Keypoints are row vectors in the networks' normalised
cube; rotations use the transposed convention of :func:`model.rotation.get_rotation_matrix`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
from scipy.spatial import ConvexHull

from model.motion.sequence import MotionSequence
from model.render.keypoints import EYE_KEYPOINTS, LIP_KEYPOINTS, transform_keypoint
from model.render.stitching import StitchingRetargeting
from model.rotation import get_rotation_matrix
from model.validation import Range, check_number

Mode = Literal["human", "animal"]
DrivingOption = Literal["expression-friendly", "pose-friendly"]
AnimationRegion = Literal["all", "exp", "pose", "lip", "eyes"]


#: Accepted driving multipliers (officially 0..2).
MULTIPLIER_RANGE = Range(0.0, 2.0)
#: Accepted intensities of the head, expression and lip motion (1 = the generated motion as it is).
INTENSITY_RANGE = Range(0.0, 2.0)


@dataclass(frozen=True)
class CompositionOptions:
    """How generated motion drives the source; defaults are the official Gradio demo's (human).

    mode: ``human`` (``live_portrait_wmg_pipeline``) or ``animal`` (``..._animal``). The animal path
    ignores ``relative_motion``, ``driving_option``, ``animation_region`` and ``normalize_lip``, as
    the official one does: its motion multiplier always applies and it has no lip normalisation.

    relative_motion: gates the expression-friendly multiplier and lip normalisation only; the
    motion itself is always relative to driving frame 0 in JoyVASA.

    animation_region: ``all`` (pose and expression), ``exp`` (expression, source pose), ``pose``
    (pose, source expression), ``lip`` (only the lip keypoints move, relative to frame 0). ``eyes``
    is offered but not implemented officially (source pose and expression: a still face); here it
    is the ``lip`` rule on the eye keypoints, with the source pose.

    lip_normalize_threshold: the source lip-open ratio from which lip normalisation applies.
    driving_multiplier: final scaling of the displacement from x_s (officially 0..2).

    pose_scale, expression_scale, lip_scale (0-2, 1 = the official result, bit for bit) act first, on the
    generated motion: the head's rotation, translation and scale relative to frame 0 (0: a still head); the
    non-lip expression offsets relative to frame 0; the lip rows' offsets (relative to the source's lips where
    the official human path drives them absolutely, else relative to frame 0; 0: the source's mouth). The
    animation region then picks what moves, and the motion multiplier, stitching, lip normalisation and the
    driving multiplier follow as before.
    """

    mode: Mode = "human"
    relative_motion: bool = True
    driving_option: DrivingOption = "expression-friendly"
    animation_region: AnimationRegion = "all"
    stitching: bool = True
    normalize_lip: bool = True
    lip_normalize_threshold: float = 0.03
    driving_multiplier: float = 1.0
    pose_scale: float = 1.0
    expression_scale: float = 1.0
    lip_scale: float = 1.0

    def __post_init__(self) -> None:
        for name, allowed in (("mode", Mode), ("driving_option", DrivingOption), ("animation_region", AnimationRegion)):
            value = getattr(self, name)
            if value not in get_args(allowed):
                raise ValueError(f"CompositionOptions.{name}={value!r}; expected one of {get_args(allowed)}")
        check_number("driving multiplier", self.driving_multiplier, MULTIPLIER_RANGE)
        for name in ("pose_scale", "expression_scale", "lip_scale"):
            check_number(name.replace("_", " "), getattr(self, name), INTENSITY_RANGE)
        check_number("lip normalisation threshold", self.lip_normalize_threshold, Range(0.0, 1.0))

    @property
    def uses_motion_multiplier(self) -> bool:
        """Whether the convex-hull motion multiplier applies (always for animals)."""
        return self.mode == "animal" or (self.relative_motion and self.driving_option == "expression-friendly")


@dataclass(frozen=True)
class SourceMotion:
    """Refined keypoint info of one source image (batch 1), float32 on the render device.

    kp (1, K, 3) canonical keypoints x_c; pitch, yaw, roll (1, 1) degrees; R (1, 3, 3) the transposed
    rotation; exp (1, K, 3); scale (1, 1); t (1, 3) (tz kept, never applied); x_s (1, K, 3) the
    transformed source keypoints; lip_ratio: the source lip-open ratio from its 203 landmarks
    (:func:`model.render.keypoints.lip_close_ratio`), None when no landmarks are known.
    """

    kp: torch.Tensor
    pitch: torch.Tensor
    yaw: torch.Tensor
    roll: torch.Tensor
    R: torch.Tensor
    exp: torch.Tensor
    scale: torch.Tensor
    t: torch.Tensor
    x_s: torch.Tensor
    lip_ratio: float | None = None

    @classmethod
    def from_kp_info(cls, info: dict[str, torch.Tensor], lip_ratio: float | None = None) -> SourceMotion:
        """From :func:`model.render.motion_extractor.kp_info` output of a single image."""
        if info["kp"].shape[0] != 1:
            raise ValueError(f"one source image expected, got a batch of {info['kp'].shape[0]}")
        rot_t = get_rotation_matrix(info["pitch"], info["yaw"], info["roll"])
        x_s = transform_keypoint(info["kp"], rot_t, info["exp"], info["scale"], info["t"])
        fields = {k: info[k] for k in ("kp", "pitch", "yaw", "roll", "exp", "scale", "t")}
        return cls(**fields, R=rot_t, x_s=x_s, lip_ratio=None if lip_ratio is None else float(lip_ratio))


def hull_motion_multiplier(x_s: torch.Tensor, x_d0: torch.Tensor) -> float:
    """sqrt(V(x_s)) / sqrt(V(x_d0)), V the 3-D convex-hull volume of the K keypoints (1, K, 3) each.

    Computed in float64 by scipy (Qhull) as the official ``calc_motion_multiplier``; one host copy
    per sequence.
    """
    volumes = [ConvexHull(kp.detach().to("cpu", torch.float32).numpy().reshape(-1, 3)).volume for kp in (x_s, x_d0)]
    return float(np.sqrt(volumes[0]) / np.sqrt(volumes[1]))


def _rows(rows: tuple[int, ...], inside: torch.Tensor, outside: torch.Tensor) -> torch.Tensor:
    """Keypoint rows ``rows`` from ``inside``, the others from ``outside`` (both broadcast to (n, K, 3))."""
    mask = torch.zeros(inside.shape[-2], 1, dtype=torch.bool, device=inside.device)
    mask[list(rows)] = True
    return torch.where(mask, inside, outside)


def _expression(
    region: AnimationRegion, mode: Mode, exp_s: torch.Tensor, exp_d: torch.Tensor, expression_scale: float = 1.0,
    lip_scale: float = 1.0,
) -> torch.Tensor:
    """delta_new (n, K, 3) from the source exp (1, K, 3) and the driving exp (n, K, 3); the scales multiply the
    offsets (by 1.0, exactly: the defaults give the official values bit for bit)."""
    offsets = exp_d - exp_d[:1]
    relative = exp_s + expression_scale * offsets
    lips_relative = exp_s + lip_scale * offsets
    if mode == "animal":
        return _rows(LIP_KEYPOINTS, lips_relative, relative)
    if region in ("all", "exp"):
        # The official human path takes the generated lip rows as they are, not relative to frame 0.
        lips = exp_d if lip_scale == 1 else exp_s + lip_scale * (exp_d - exp_s)
        return _rows(LIP_KEYPOINTS, lips, relative)
    if region == "lip":
        return _rows(LIP_KEYPOINTS, lips_relative, exp_s)
    if region == "eyes":
        return _rows(EYE_KEYPOINTS, relative, exp_s)
    return exp_s.expand_as(exp_d)


def compose_motion(source: SourceMotion, motion: MotionSequence, options: CompositionOptions) -> torch.Tensor:
    """Target keypoints (n, K, 3) before stitching: x_d = s_new (x_c R_new + delta_new) + t_new, relative
    to driving frame 0, then (when it applies) x_d <- x_s + m (x_d - x_d[0]).

    ``motion`` (n >= 1 frames) is moved to the source's device and dtype, once for all frames.
    """
    if len(motion) == 0:
        raise ValueError("no driving frames to compose")
    motion = motion.with_pose_scaled(options.pose_scale)

    def driving(values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(values, dtype=source.x_s.dtype, device=source.x_s.device)

    rot_d, exp_d, scale_d, t_d = (driving(v) for v in (motion.R, motion.exp, motion.scale, motion.t))
    n = exp_d.shape[0]
    if options.mode == "animal" or options.animation_region in ("all", "pose"):
        rot = (rot_d @ rot_d[:1].transpose(1, 2)) @ source.R
    else:
        rot = source.R.expand(n, 3, 3)
    # The animal pipeline ignores the driving scale.
    scale = source.scale.expand(n, 1) if options.mode == "animal" else source.scale * (scale_d / scale_d[:1])
    # The reference zeroes tz; transform_keypoint never applies tz, which is the same thing.
    t = source.t + (t_d - t_d[:1])
    exp = _expression(options.animation_region, options.mode, source.exp, exp_d, options.expression_scale,
                      options.lip_scale)
    x_d = transform_keypoint(source.kp.expand(n, -1, -1), rot, exp, scale, t)
    if options.uses_motion_multiplier:
        x_d0 = x_d[:1]
        x_d = (x_d - x_d0) * hull_motion_multiplier(source.x_s, x_d0) + source.x_s
    return x_d


def lip_normalization_delta(
    stitching: StitchingRetargeting, source: SourceMotion, options: CompositionOptions
) -> torch.Tensor | None:
    """The lip-retargeting offsets (1, K, 3) that close the source's mouth (target ratio 0), or None.

    Human only, with ``normalize_lip`` and ``relative_motion``, when the source lip ratio is known
    and at least ``lip_normalize_threshold``.
    """
    ratio = source.lip_ratio
    if options.mode != "human" or not (options.normalize_lip and options.relative_motion) or ratio is None:
        return None
    if ratio < options.lip_normalize_threshold:
        return None
    target = torch.tensor([[ratio, 0.0]], dtype=source.x_s.dtype, device=source.x_s.device)
    return stitching.retarget_lip(source.x_s, target)


def stitch_keypoints(
    stitching: StitchingRetargeting, source: SourceMotion, x_d: torch.Tensor, options: CompositionOptions
) -> torch.Tensor:
    """Stitching (when enabled), then the lip-normalisation delta (when any): (n, K, 3) -> (n, K, 3)."""
    if options.stitching:
        x_d = stitching.apply_stitching(source.x_s.expand_as(x_d), x_d)
    lip_delta = lip_normalization_delta(stitching, source, options)
    return x_d if lip_delta is None else x_d + lip_delta


def apply_driving_multiplier(source: SourceMotion, x_d: torch.Tensor, multiplier: float) -> torch.Tensor:
    """x_s + (x_d - x_s) * multiplier, always computed (x 1.0 is not bitwise the identity)."""
    return source.x_s + (x_d - source.x_s) * multiplier


@torch.inference_mode()
def driving_keypoints(
    stitching: StitchingRetargeting, source: SourceMotion, motion: MotionSequence, options: CompositionOptions
) -> torch.Tensor:
    """The keypoints W renders for every frame: (n, K, 3) in the source's dtype, on its device."""
    x_d = compose_motion(source, motion, options)
    x_d = stitch_keypoints(stitching, source, x_d, options)
    return apply_driving_multiplier(source, x_d, options.driving_multiplier)
