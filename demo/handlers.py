"""The functions behind the page's buttons and the named API endpoints ``/animate`` and ``/compare``.

Their parameter names and defaults are the API's (``gradio_client`` shows them with ``view_api``).
"""

from __future__ import annotations

import random
from pathlib import Path

import gradio as gr
import numpy as np

from demo.compare import parse_numbers, plan_cells
from demo.engine import Comparison, Engine
from demo.errors import readable, user_errors
from demo.options import DEFAULT_PRESET, animate_options, crop_options, sampler_config
from demo.preview import preview_image
from demo.settings import ENV_PREFIX
from model.audio.decode import load_audio
from model.face.image import load_image
from model.face.source_crop import CropOptions
from model.pipeline import AnimationResult

DEFAULT_GUIDANCE = 4.0  # the official web demo's
MAX_SEED = 2**31 - 1


def random_seed() -> int:
    """A fresh seed for the seed box."""
    return random.randint(0, MAX_SEED)


def run_summary(result: AnimationResult) -> str:
    """One line: frames, size, total time, per-stage seconds, what came from the cache, the crop note."""
    stages = " · ".join(
        f"{name} {seconds:.2f} s{' (cached)' if result.cache_hits.get(name) else ''}"
        for name, seconds in result.timings.items()
    )
    cached = [name for name, hit in result.cache_hits.items() if hit]
    height, width = result.size
    return (
        f"{result.n_frames} frames, {width}x{height}, in {sum(result.timings.values()):.1f} s: {stages}. "
        f"From the cache: {', '.join(cached) if cached else 'nothing'}. {'; '.join(result.notes)}."
    )


def comparison_summary(comparison: Comparison) -> str:
    """One line per comparison: how many videos, how often the motion was reused."""
    reused = sum(bool(r.cache_hits.get("motion")) for r in comparison.results)
    return (
        f"{len(comparison.results)} videos in {comparison.seconds:.1f} s; motion reused from the cache for "
        f"{reused} of them. Sound: {Path(comparison.cells[0].audio).name}."
    )


class Handlers:
    """Event handlers bound to one :class:`Engine` and its limits."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = engine.settings

    def check_image(self, image: str | None) -> None:
        """An image is given and within the size limit (checked before any GPU time is asked for)."""
        if not image:
            raise gr.Error("Upload a portrait (or an animal picture), or pick an example below.", title="No image")
        height, width = load_image(image).shape[:2]
        limit = self.settings.max_image_side
        if max(height, width) > limit:
            raise gr.Error(
                f"The image is {width}x{height} pixels; this demo accepts up to {limit} pixels on the longer side "
                f"({ENV_PREFIX}MAX_IMAGE_SIDE). Please resize it.", title="Image too large")

    def check_audio(self, audio: str | None) -> None:
        """An audio is given, decodable and within the duration limit (an AudioError otherwise)."""
        if not audio:
            raise gr.Error("Upload or record a speech audio, or pick an example below.", title="No audio")
        load_audio(audio, max_seconds=self.settings.max_audio_seconds)

    def animate(
        self,
        image: str | None,
        audio: str | None,
        mode: str = "human",
        quality: str = DEFAULT_PRESET,
        guidance_scale: float = DEFAULT_GUIDANCE,
        seed: float = 0,
        region: str = "all",
        driving_multiplier: float = 1.0,
        smoothing: bool = True,
        crop_mode: str = "auto",
        crop_scale: float = 2.3,
        crop_x: float = 0.0,
        crop_y: float = -0.125,
        face_index: float = 0,
        face_box: str | None = None,
        pasteback: bool = True,
        crf: float = 18,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's idiom: injected per request)
    ) -> tuple[str, str]:
        """Animate ``image`` with ``audio``; returns the mp4 and a line with timings and cache hits."""
        with user_errors(image, audio):
            self.check_image(image)
            self.check_audio(audio)
            options = animate_options(
                mode,
                sampler_config(quality, guidance_scale, seed),
                crop_options(crop_mode, crop_scale, crop_x, crop_y, face_index, face_box),
                region=region,
                driving_multiplier=driving_multiplier,
                smoothing=smoothing,
                pasteback=pasteback,
                crf=crf,
                max_audio_seconds=self.settings.max_audio_seconds,
            )
            result = self.engine.animate(image, audio, options, progress)
        return str(result.path), run_summary(result)

    def animate_example(self, image: str, audio: str, mode: str) -> tuple[str, str]:
        """An example row: its image, audio and mode with every other setting at its default."""
        return self.animate(image, audio, mode)

    def compare(
        self,
        images: list[str] | None,
        audios: list[str] | None,
        guidance_scales: str = str(DEFAULT_GUIDANCE),
        seeds: str = "0",
        mode: str = "human",
        quality: str = DEFAULT_PRESET,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, str]:
        """One grid video comparing several images, audios, guidance scales and/or seeds (comma-separated)."""
        images, audios = list(images or []), list(audios or [])
        with user_errors(*images, *audios):
            cells = plan_cells(
                images, audios, parse_numbers(guidance_scales, float, "guidance scales") or [DEFAULT_GUIDANCE],
                parse_numbers(seeds, int, "seeds") or [0], self.settings.max_compare_cells,
            )
            for image in images:
                self.check_image(image)
            for audio in audios:
                self.check_audio(audio)
            options = animate_options(mode, sampler_config(quality, DEFAULT_GUIDANCE, 0), CropOptions(),
                                      max_audio_seconds=self.settings.max_audio_seconds)
            comparison = self.engine.compare(cells, options, progress)
        return str(comparison.path), comparison_summary(comparison)

    def preview(
        self, image: str | None, mode: str, crop_mode: str, crop_scale: float, crop_x: float, crop_y: float,
        face_index: float, face_box: str | None,
    ) -> tuple[np.ndarray | None, str]:
        """The crop preview image and its note (problems are shown as the note, never raised)."""
        if not image:
            return None, "Upload an image to see the crop."
        try:
            options = crop_options(crop_mode, crop_scale, crop_x, crop_y, face_index, face_box)
            crop = self.engine.crop(image, mode, options)
        except Exception as exc:  # shown in place: the preview must never interrupt editing
            return None, readable(exc, (image,)).message
        return preview_image(crop), crop.note
