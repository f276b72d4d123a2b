"""The demo's choices (sampler presets, crop modes, regions) turned into the pipeline's ``AnimateOptions``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import get_args

from model.face.source_crop import FACE_INDEX_RANGE, OFFSET_RANGE, SCALE_RANGE, CropOptions
from model.motion.blinks import BLINK_RATE_RANGE
from model.motion.generate import POSE_ENDS
from model.motion.sampler import GUIDANCE_RANGE, SEED_RANGE, SamplerConfig
from model.motion.sequence import MotionSequence
from model.pipeline import SYNC_OFFSET_RANGE, AnimateOptions
from model.render.composition import (
    EYE_OPEN_RANGE,
    GAZE_RANGE,
    INTENSITY_RANGE,
    MULTIPLIER_RANGE,
    AnimationRegion,
    CompositionOptions,
)
from model.validation import Range, parse_number
from model.video import CRF_RANGE, VideoOptions
from model.weights import MODES

#: Sampler quality presets: (sampler kind, steps; None = all the model's diffusion steps).
PRESETS: dict[str, tuple[str, int | None]] = {
    "exact": ("ddpm", None),  # the official sampler, every diffusion step
    "balanced": ("dpmsolver++", 25),
    "fast": ("ddim", 10),
}
DEFAULT_PRESET = "balanced"
CROP_MODES = ("auto", "manual box", "off")
REGIONS: tuple[AnimationRegion, ...] = get_args(AnimationRegion)
#: The motion controls a comparison can take as its axis, with their accepted ranges.
CONTROLS: dict[str, Range] = {"pose_scale": INTENSITY_RANGE, "expression_scale": INTENSITY_RANGE,
                              "lip_scale": INTENSITY_RANGE, "sync_offset_ms": SYNC_OFFSET_RANGE,
                              "blink_rate": BLINK_RATE_RANGE, "eye_open": EYE_OPEN_RANGE, "gaze_x": GAZE_RANGE,
                              "gaze_y": GAZE_RANGE}
NO_CONTROL = "none"
#: The eye-opening choice that leaves the generated eyes alone (also accepted: None or an empty value).
EYE_OPEN_OFF = "off"


def choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    """``value`` when it is one of ``allowed``; ValueError listing them otherwise."""
    if value not in allowed:
        listed = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {listed}; got {str(value)[:40]!r}")
    return str(value)


def flag(name: str, value: object) -> bool:
    """A checkbox value: a bool, 0/1, or "true"/"false" text from an API client."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{name} must be true or false; got {str(value)[:40]!r}")


def with_control(options: AnimateOptions, control: str | None, value: float | None) -> AnimateOptions:
    """``options`` with one motion control (see :data:`CONTROLS`) set to ``value``."""
    if not control:
        return options
    if control == "sync_offset_ms":
        return dataclasses.replace(options, sync_offset_ms=value)
    return dataclasses.replace(options, composition=dataclasses.replace(options.effective_composition,
                                                                        **{control: value}))


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"x, y, w, h"`` (pixels) -> a tuple; ValueError with an example otherwise."""
    example = "'120, 80, 200, 200'"
    parts = [p for p in str(text or "").replace(";", ",").split(",") if p.strip()]
    if len(parts) != 4:
        raise ValueError(f"the manual face box must be 'x, y, w, h' in pixels, e.g. {example}; got {text!r}")
    x, y, w, h = (parse_number(f"manual face box {n}", p) for n, p in zip(("x", "y", "width", "height"), parts,
                                                                          strict=True))
    return x, y, w, h


def crop_options(
    crop_mode: str, scale: object, x_offset: object, y_offset: object, face_index: object, face_box: str | None
) -> CropOptions:
    """Crop settings from the crop group of the page (``face_box`` is read in ``manual box`` mode only)."""
    crop_mode = choice("crop mode", crop_mode, CROP_MODES)
    return CropOptions(
        enabled=crop_mode != "off",
        scale=parse_number("crop scale", scale, SCALE_RANGE),
        x_offset=parse_number("horizontal crop offset", x_offset, OFFSET_RANGE),
        y_offset=parse_number("vertical crop offset", y_offset, OFFSET_RANGE),
        face_index=parse_number("face index", face_index, FACE_INDEX_RANGE, integer=True),
        box=parse_box(face_box or "") if crop_mode == "manual box" else None,
    )


def sampler_config(preset: str, guidance_scale: object, seed: object) -> SamplerConfig:
    """The sampler of a quality preset, with the guidance scale and a fixed seed."""
    kind, steps = PRESETS[choice("quality preset", preset, tuple(PRESETS))]
    return SamplerConfig(kind=kind, num_steps=steps, cfg_scale=parse_number("guidance scale", guidance_scale,
                                                                            GUIDANCE_RANGE),
                         seed=parse_number("seed", seed, SEED_RANGE, integer=True))


def animate_options(
    mode: str,
    sampler: SamplerConfig,
    crop: CropOptions,
    region: str = "all",
    driving_multiplier: object = 1.0,
    smoothing: object = True,
    pasteback: object = True,
    crf: object = 18,
    max_audio_seconds: float = 60.0,
    pose_scale: object = 1.0,
    expression_scale: object = 1.0,
    lip_scale: object = 1.0,
    sync_offset_ms: object = 0.0,
    driving_motion: MotionSequence | None = None,
    blink_rate: object = 0.0,
    eye_open: object = EYE_OPEN_OFF,
    gaze_x: object = 0.0,
    gaze_y: object = 0.0,
    pose_from: str | None = None,
    pose_end: str = "hold",
) -> AnimateOptions:
    """Everything for one run; unlisted settings keep the official demo's defaults. Every value is checked
    here, before any work, with a message naming the setting. ``eye_open`` "off" (or None, empty): the generated eyes.
    ``pose_from``: a driving video's path (None: the generated head pose)."""
    mode = choice("mode", mode, MODES)
    controls = {"pose_scale": pose_scale, "expression_scale": expression_scale, "lip_scale": lip_scale,
                "blink_rate": blink_rate, "gaze_x": gaze_x, "gaze_y": gaze_y}
    if eye_open not in (None, "", EYE_OPEN_OFF):
        controls["eye_open"] = eye_open
    return AnimateOptions(
        sync_offset_ms=parse_number("sync offset in ms", sync_offset_ms, SYNC_OFFSET_RANGE),
        driving_motion=driving_motion,
        pose_from=Path(pose_from) if pose_from else None,
        pose_end=choice("pose end", pose_end, POSE_ENDS),
        mode=mode,
        crop=crop,
        sampler=sampler,
        smooth=flag("smoothing", smoothing),
        composition=CompositionOptions(
            mode=mode, animation_region=choice("animation region", region, REGIONS),
            driving_multiplier=parse_number("driving multiplier", driving_multiplier, MULTIPLIER_RANGE),
            **{name: parse_number(name.replace("_", " "), value, CONTROLS[name]) for name, value in controls.items()},
        ),
        pasteback=flag("paste-back", pasteback),
        video=VideoOptions(crf=parse_number("video quality (CRF)", crf, CRF_RANGE, integer=True),
                           max_audio_seconds=float(max_audio_seconds)),
    )
