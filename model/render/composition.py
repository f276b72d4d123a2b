"""Driving keypoints for every frame: source keypoint info + generated motion -> x_d (n, K, 3).

JoyVASA composes the target keypoints per frame in a Python loop (spec joyvasa.md §5.2 human,
§5.3 animal; liveportrait.md §4.4-4.8). All motion is known before rendering, so here every stage
runs on all n frames at once, in the reference's operation order (so float32 results match it):

1. :func:`compose_motion`: rotation, expression, scale and translation relative to driving frame 0,
   then the expression-friendly motion multiplier (golden ``kp_d_before_stitching``); then, only when an eye
   control is set (never officially), :func:`eye_offsets`: blinks, a held eye opening and gaze;
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

from model.motion.blinks import BLINK_RATE_RANGE
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
#: Accepted held eye openings, as a share of the source's own (0: shut, 1: as in the picture).
EYE_OPEN_RANGE = Range(0.0, 1.0)
#: Accepted gaze offsets (1: about as far as the eyeballs move without distortion).
GAZE_RANGE = Range(-1.0, 1.0)
#: The eye-opening ratio assumed where the source has no 203-point landmarks (a typical open eye's).
TYPICAL_EYE_RATIO = 0.35
#: The keypoint rows that carry the eyeballs (the rows LivePortrait's own eyeball editing moves).
EYEBALL_KEYPOINTS = (11, 15)
#: Expression offset, in keypoint units before the source's scale, of a gaze of 1.
GAZE_UNIT = 0.03


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

    Eyes (human only; defaults: no change at all): blink_rate (0-60 blinks a minute, see
    :mod:`model.motion.blinks`) closes the eyes on a seeded schedule; eye_open (0-1 or None) holds the eye
    opening at that share of the source's (the generated eye motion is dropped); both act through the eye
    retargeting MLP, after the motion multiplier and before stitching. gaze_x, gaze_y (-1..1; positive: to the
    picture's right, up) shift the eyeballs at the same point.
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
    blink_rate: float = 0.0
    eye_open: float | None = None
    gaze_x: float = 0.0
    gaze_y: float = 0.0

    def __post_init__(self) -> None:
        for name, allowed in (("mode", Mode), ("driving_option", DrivingOption), ("animation_region", AnimationRegion)):
            value = getattr(self, name)
            if value not in get_args(allowed):
                raise ValueError(f"CompositionOptions.{name}={value!r}; expected one of {get_args(allowed)}")
        check_number("driving multiplier", self.driving_multiplier, MULTIPLIER_RANGE)
        for name in ("pose_scale", "expression_scale", "lip_scale"):
            check_number(name.replace("_", " "), getattr(self, name), INTENSITY_RANGE)
        check_number("lip normalisation threshold", self.lip_normalize_threshold, Range(0.0, 1.0))
        check_number("blink rate", self.blink_rate, BLINK_RATE_RANGE)
        if self.eye_open is not None:
            check_number("eye opening", self.eye_open, EYE_OPEN_RANGE)
        for name in ("gaze_x", "gaze_y"):
            check_number(name.replace("_", " "), getattr(self, name), GAZE_RANGE)
        if self.mode == "animal" and self.controls_eyes:
            raise ValueError("blinks, eye opening and gaze are for human faces: they act through the eye "
                             "retargeting of LivePortrait's human model, and animal pictures have no eye landmarks "
                             "to measure the opening; leave them at their defaults in animal mode")

    @property
    def controls_eyes(self) -> bool:
        """Whether any eye control is set (when none is, the eyes are composed exactly as officially)."""
        return bool(self.blink_rate or self.eye_open is not None or self.gaze_x or self.gaze_y)

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
    (:func:`model.render.keypoints.lip_close_ratio`), eye_ratio: its (left, right) eye-open ratios
    (:func:`model.render.keypoints.eye_close_ratio`); None when no landmarks are known.
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
    eye_ratio: tuple[float, float] | None = None

    @classmethod
    def from_kp_info(
        cls, info: dict[str, torch.Tensor], lip_ratio: float | None = None,
        eye_ratio: tuple[float, float] | None = None,
    ) -> SourceMotion:
        """From :func:`model.render.motion_extractor.kp_info` output of a single image."""
        if info["kp"].shape[0] != 1:
            raise ValueError(f"one source image expected, got a batch of {info['kp'].shape[0]}")
        rot_t = get_rotation_matrix(info["pitch"], info["yaw"], info["roll"])
        x_s = transform_keypoint(info["kp"], rot_t, info["exp"], info["scale"], info["t"])
        fields = {k: info[k] for k in ("kp", "pitch", "yaw", "roll", "exp", "scale", "t")}
        eyes = None if eye_ratio is None else (float(eye_ratio[0]), float(eye_ratio[1]))
        return cls(**fields, R=rot_t, x_s=x_s, lip_ratio=None if lip_ratio is None else float(lip_ratio),
                   eye_ratio=eyes)


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
    lip_scale: float = 1.0, hold_eyes: bool = False,
) -> torch.Tensor:
    """delta_new (n, K, 3) from the source exp (1, K, 3) and the driving exp (n, K, 3); the scales multiply the
    offsets (by 1.0, exactly: the defaults give the official values bit for bit); ``hold_eyes``: the eye rows
    are the source's."""
    delta = _region_expression(region, mode, exp_s, exp_d, expression_scale, lip_scale)
    return _rows(EYE_KEYPOINTS, exp_s, delta) if hold_eyes else delta


def _region_expression(
    region: AnimationRegion, mode: Mode, exp_s: torch.Tensor, exp_d: torch.Tensor, expression_scale: float,
    lip_scale: float,
) -> torch.Tensor:
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
                      options.lip_scale, hold_eyes=options.eye_open is not None)
    x_d = transform_keypoint(source.kp.expand(n, -1, -1), rot, exp, scale, t)
    if options.uses_motion_multiplier:
        x_d0 = x_d[:1]
        x_d = (x_d - x_d0) * hull_motion_multiplier(source.x_s, x_d0) + source.x_s
    return x_d


def eye_offsets(
    stitching: StitchingRetargeting, source: SourceMotion, options: CompositionOptions, n: int,
    closure: np.ndarray | None = None,
) -> torch.Tensor | None:
    """What the eye controls add to the composed keypoints: (n, K, 3), or None when none is set.

    Blinks and a held opening go through the eye-retargeting MLP as the difference between its offsets for the
    wanted eye-open ratio and for the source's own, so a frame with nothing to change gets exactly zero. The
    wanted ratio is the source's left-eye ratio (the MLP's driving input is a left-eye ratio) times ``eye_open``
    (1 when None) times 1 - ``closure`` (n,) (0: open, 1: shut; None: no blink). The source's ratios come from
    its landmarks, else :data:`TYPICAL_EYE_RATIO`. Gaze shifts the eyeball rows by ``GAZE_UNIT`` times the
    source's scale.
    """
    if not options.controls_eyes:
        return None
    x_s = source.x_s
    offsets = torch.zeros(n, *x_s.shape[1:], dtype=x_s.dtype, device=x_s.device)
    shut = np.zeros(n, np.float32) if closure is None else np.asarray(closure, np.float32)
    if len(shut) != n:
        raise ValueError(f"{len(shut)} eye closures for {n} frames")
    moving = (shut > 0) | (options.eye_open is not None)
    if moving.any():
        left, right = source.eye_ratio or (TYPICAL_EYE_RATIO, TYPICAL_EYE_RATIO)
        wanted = left * (1.0 if options.eye_open is None else options.eye_open) * (1.0 - shut[moving])
        ratios = torch.tensor([[left, right, w] for w in wanted], dtype=x_s.dtype, device=x_s.device)
        own = torch.tensor([[left, right, left]], dtype=x_s.dtype, device=x_s.device)
        rows = torch.as_tensor(np.flatnonzero(moving), device=x_s.device)
        offsets[rows] = stitching.retarget_eye(x_s.expand(len(ratios), -1, -1), ratios) - stitching.retarget_eye(
            x_s, own)
    if options.gaze_x or options.gaze_y:
        # Keypoint y grows downwards in the image, so looking up is a negative y offset.
        shift = torch.tensor([options.gaze_x, -options.gaze_y, 0.0], dtype=x_s.dtype, device=x_s.device)
        offsets[:, list(EYEBALL_KEYPOINTS)] += source.scale.reshape(1, 1, 1) * GAZE_UNIT * shift
    return offsets


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
    stitching: StitchingRetargeting, source: SourceMotion, motion: MotionSequence, options: CompositionOptions,
    eye_closure: np.ndarray | None = None,
) -> torch.Tensor:
    """The keypoints W renders for every frame: (n, K, 3) in the source's dtype, on its device.
    ``eye_closure`` (n,): the blink schedule over these frames (see :func:`eye_offsets`)."""
    x_d = compose_motion(source, motion, options)
    eyes = eye_offsets(stitching, source, options, len(x_d), eye_closure)
    if eyes is not None:
        x_d = x_d + eyes
    x_d = stitch_keypoints(stitching, source, x_d, options)
    return apply_driving_multiplier(source, x_d, options.driving_multiplier)
