"""The demo's choices (sampler presets, crop modes, regions) turned into the pipeline's ``AnimateOptions``."""

from __future__ import annotations

from model.face.source_crop import CropOptions
from model.motion.sampler import SamplerConfig
from model.pipeline import AnimateOptions
from model.render.composition import AnimationRegion, CompositionOptions
from model.video import VideoOptions

#: Sampler quality presets: (sampler kind, steps; None = all the model's diffusion steps).
PRESETS: dict[str, tuple[str, int | None]] = {
    "exact": ("ddpm", None),  # the official sampler, every diffusion step
    "balanced": ("dpmsolver++", 25),
    "fast": ("ddim", 10),
}
DEFAULT_PRESET = "balanced"
CROP_MODES = ("auto", "manual box", "off")
REGIONS: tuple[AnimationRegion, ...] = ("all", "exp", "pose", "lip", "eyes")
MODES = ("human", "animal")


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"x, y, w, h"`` (pixels) -> a tuple; ValueError with an example otherwise."""
    try:
        x, y, w, h = (float(part) for part in text.replace(";", ",").split(","))
    except ValueError as exc:
        example = "'120, 80, 200, 200'"
        raise ValueError(f"manual face box must be 'x, y, w, h' in pixels, e.g. {example}; got {text!r}") from exc
    return x, y, w, h


def crop_options(
    crop_mode: str, scale: float, x_offset: float, y_offset: float, face_index: float, face_box: str | None
) -> CropOptions:
    """Crop settings from the crop group of the page (``face_box`` is read in ``manual box`` mode only)."""
    if crop_mode not in CROP_MODES:
        raise ValueError(f"crop mode must be one of {CROP_MODES}, got {crop_mode!r}")
    return CropOptions(
        enabled=crop_mode != "off",
        scale=float(scale),
        x_offset=float(x_offset),
        y_offset=float(y_offset),
        face_index=int(face_index),
        box=parse_box(face_box or "") if crop_mode == "manual box" else None,
    )


def sampler_config(preset: str, guidance_scale: float, seed: float) -> SamplerConfig:
    """The sampler of a quality preset, with the guidance scale and a fixed seed."""
    if preset not in PRESETS:
        raise ValueError(f"quality preset must be one of {tuple(PRESETS)}, got {preset!r}")
    kind, steps = PRESETS[preset]
    return SamplerConfig(kind=kind, num_steps=steps, cfg_scale=float(guidance_scale), seed=int(seed))


def animate_options(
    mode: str,
    sampler: SamplerConfig,
    crop: CropOptions,
    region: AnimationRegion = "all",
    driving_multiplier: float = 1.0,
    smoothing: bool = True,
    pasteback: bool = True,
    crf: float = 18,
    max_audio_seconds: float = 60.0,
) -> AnimateOptions:
    """Everything for one run; unlisted settings keep the official demo's defaults."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return AnimateOptions(
        mode=mode,
        crop=crop,
        sampler=sampler,
        smooth=bool(smoothing),
        composition=CompositionOptions(
            mode=mode, animation_region=region, driving_multiplier=float(driving_multiplier)
        ),
        pasteback=bool(pasteback),
        video=VideoOptions(crf=int(crf), max_audio_seconds=float(max_audio_seconds)),
    )
