"""The functions behind the page's buttons and the named API endpoints ``/animate`` and ``/compare``.

Their parameter names and defaults are the API's (``gradio_client`` shows them with ``view_api``). Every
parameter is checked, both inputs are decoded and the face is found before any GPU time is asked for: a bad
request is answered in well under a second with a message that says what is wrong and what to do.
"""

from __future__ import annotations

import dataclasses
import inspect
import random
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import numpy as np

from demo.compare import parse_numbers, plan_cells
from demo.engine import Comparison, Engine, Inputs
from demo.errors import readable, user_errors
from demo.options import (
    CONTROLS,
    DEFAULT_PRESET,
    EYE_OPEN_OFF,
    NO_CONTROL,
    animate_options,
    choice,
    crop_options,
    sampler_config,
)
from demo.outputs import output_name
from demo.plots import motion_frame
from demo.preview import preview_image
from model.face.source_crop import CropOptions
from model.motion.files import load_motion, save_motion
from model.motion.sampler import GUIDANCE_RANGE, SEED_RANGE
from model.pipeline import AnimateOptions, AnimationResult

DEFAULT_GUIDANCE = 4.0  # the official web demo's
MAX_SEED = int(SEED_RANGE.high)
#: Words in a crop note that mean the weight-free fallback was used (shown next to the video).
FALLBACK_MARKERS = ("weight-free fallback", "centred crop", "OpenCV Haar cascade")


def random_seed() -> int:
    """A fresh seed for the seed box."""
    return random.randint(0, MAX_SEED)


def run_summary(result: AnimationResult) -> str:
    """One line: frames, size, total time, time to the first segment, per-stage seconds (motion and render
    overlap), what came from the cache, the crop note."""
    stages = " · ".join(
        f"{name} {seconds:.2f} s{' (cached)' if result.cache_hits.get(name) else ''}"
        for name, seconds in result.timings.items() if name != "total"
    )
    cached = [name for name, hit in result.cache_hits.items() if hit]
    height, width = result.size
    first = result.first_segment_seconds
    first = "" if first is None else f", first segment after {first:.1f} s"
    return (
        f"{result.n_frames} frames, {width}x{height}, in {result.timings.get('total', 0.0):.1f} s{first}: {stages}. "
        f"From the cache: {', '.join(cached) if cached else 'nothing'}. {'; '.join(result.notes)}."
    )


def crop_notice(result: AnimationResult) -> str:
    """A visible notice when the crop did not come from the official detector (empty otherwise)."""
    crop_note = result.notes[0] if result.notes else ""
    if not any(marker in crop_note for marker in FALLBACK_MARKERS):
        return ""
    return f"⚠️ **Face crop fallback:** {crop_note}. Check the crop, or give a manual face box in *Crop*."


def comparison_summary(comparison: Comparison) -> str:
    """How many videos, how often the motion was reused, and each cell's settings (left to right, top down)."""
    reused = sum(bool(r.cache_hits.get("motion")) for r in comparison.results)
    cells = "; ".join(
        f"{i + 1}: {Path(c.image).name} + {Path(c.audio).name}, guidance {c.guidance_scale:g}, seed {c.seed}"
        + (f", {c.control} {c.value:g}" if c.control else "")
        for i, c in enumerate(comparison.cells)
    )
    return (
        f"{len(comparison.results)} videos in {comparison.seconds:.1f} s; motion reused from the cache for "
        f"{reused} of them. Sound: {Path(comparison.cells[0].audio).name}. Cells: {cells}."
    )


def _require(value: object, what: str, title: str) -> str:
    if not value:
        raise gr.Error(what, title=title)
    if not isinstance(value, str) or not Path(value).is_file():
        raise gr.Error(f"{title}: the upload did not arrive as a file; upload it again.", title=title)
    return value


class Handlers:
    """Event handlers bound to one :class:`Engine` and its limits."""

    def __init__(self, engine: Engine, streaming: bool = True) -> None:
        self.engine = engine
        self.settings = engine.settings
        #: Whether the page's player streams segments (it needs ffmpeg and ffprobe on the host).
        self.streaming = streaming

    def _inputs(self, image: str | None, audio: str | None, options: AnimateOptions) -> Inputs:
        image = _require(image, "Upload a portrait (or an animal picture), or pick an example below.", "No image")
        audio = _require(audio, "Upload or record a speech audio, or pick an example below.", "No audio")
        return self.engine.prepare(image, audio, options)

    def animate_stream(
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
        pose_scale: float = 1.0,
        expression_scale: float = 1.0,
        lip_scale: float = 1.0,
        sync_offset_ms: float = 0.0,
        motion_file: str | None = None,
        blink_rate: float = 0.0,
        eye_open: float | str | None = EYE_OPEN_OFF,
        gaze_x: float = 0.0,
        gaze_y: float = 0.0,
        pose_from: str | None = None,
        pose_end: str = "hold",
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's idiom: injected per request)
    ) -> Iterator[tuple]:
        """Animate ``image`` with ``audio``, streaming: yields (segment of video, None, progress line, {}) as each
        segment is made, then (no update, the complete mp4, timings and cache hits, page extras: the crop notice,
        the run's motion file and the motion plot). Where the host cannot stream (no ffmpeg), only the last,
        with the mp4 for the player. ``motion_file``: a saved motion (.npz / .safetensors, made for this audio)
        drives the image instead of a sampled one. Eyes (human mode): ``blink_rate`` blinks a minute (0-60),
        ``eye_open`` holds the eye opening at that share of the picture's (0-1; "off": as generated), ``gaze_x``
        and ``gaze_y`` move the eyeballs (-1..1; positive: right, up). ``pose_from``: a driving video whose head
        pose replaces the generated one (lips and expression still from the audio); ``pose_end``: past its end,
        ``hold`` the last pose or ``loop`` the video."""
        values = {k: v for k, v in locals().items() if k not in ("self", "progress")}
        yield from self._generate(values, progress, streaming=self.streaming)

    def animate(self, *args: object, **kwargs: object) -> tuple[str, str, dict]:
        """Animate ``image`` with ``audio``: the complete mp4, a line with timings and cache hits, and the page
        extras (a page-only state, not part of the API's outputs). The parameters are :meth:`animate_stream`'s."""
        bound = inspect.signature(Handlers.animate_stream).bind(self, *args, **kwargs)
        bound.apply_defaults()
        values = {k: v for k, v in bound.arguments.items() if k not in ("self", "progress")}
        *_, (_, video, summary, extras) = self._generate(values, bound.arguments["progress"], streaming=False)
        return video, summary, extras

    animate.__signature__ = inspect.signature(animate_stream).replace(  # type: ignore[attr-defined]
        return_annotation=tuple[str, str, dict])

    def _generate(self, values: dict, progress: gr.Progress, streaming: bool) -> Iterator[tuple]:
        """Check every value, decode both inputs and crop (before any GPU work), then run; see
        :meth:`animate_stream` for what is yielded."""
        image, audio = values["image"], values["audio"]
        with user_errors(image, audio, values["motion_file"], values["pose_from"]):
            options = animate_options(
                values["mode"],
                sampler_config(values["quality"], values["guidance_scale"], values["seed"]),
                crop_options(values["crop_mode"], values["crop_scale"], values["crop_x"], values["crop_y"],
                             values["face_index"], values["face_box"]),
                region=values["region"],
                driving_multiplier=values["driving_multiplier"],
                smoothing=values["smoothing"],
                pasteback=values["pasteback"],
                crf=values["crf"],
                max_audio_seconds=self.settings.max_audio_seconds,
                pose_scale=values["pose_scale"],
                expression_scale=values["expression_scale"],
                lip_scale=values["lip_scale"],
                sync_offset_ms=values["sync_offset_ms"],
                blink_rate=values["blink_rate"],
                eye_open=values["eye_open"],
                gaze_x=values["gaze_x"],
                gaze_y=values["gaze_y"],
                pose_from=values["pose_from"],
                pose_end=values["pose_end"],
            )
            inputs = self._inputs(image, audio, options)
            if values["motion_file"]:
                saved = load_motion(_require(values["motion_file"], "", "No motion file"))
                saved.check_audio(inputs.speech.samples)
                options = dataclasses.replace(options, driving_motion=saved.motion)
            if not streaming:
                result = self.engine.animate(inputs, options, progress)
                yield str(result.path), str(result.path), run_summary(result), self._extras(result, inputs, options)
                return
            for item in self.engine.animate_stream(inputs, options, progress):
                if isinstance(item, AnimationResult):
                    yield gr.skip(), str(item.path), run_summary(item), self._extras(item, inputs, options)
                else:
                    yield str(item.path), None, f"Streaming: {item.end:.1f} s of video ready", {}

    @staticmethod
    def _extras(result: AnimationResult, inputs: Inputs, options: AnimateOptions) -> dict:
        """What the page shows beside the video: the crop notice, the run's motion file, the motion plot."""
        motion_path = result.path.with_name(f"{result.path.stem}_motion.npz")
        settings = {"sampler": dataclasses.asdict(options.sampler), "smooth": options.smooth, "mode": options.mode,
                    "sync_offset_ms": options.sync_offset_ms}
        save_motion(motion_path, result.motion, inputs.speech.samples, settings)
        return {"notice": crop_notice(result), "motion": str(motion_path), "plot": motion_frame(result.motion,
                                                                                                 options)}

    def animate_example(self, image: str, audio: str, mode: str) -> tuple[str, str, str]:
        """An example row: its image, audio and mode with every other setting at its default (the finished
        video: Gradio caches examples, and cannot cache a streamed output), its timings and crop notice."""
        video, summary, extras = self.animate(image, audio, mode)
        return video, summary, extras["notice"]

    def compare(
        self,
        images: list[str] | None,
        audios: list[str] | None,
        guidance_scales: str = str(DEFAULT_GUIDANCE),
        seeds: str = "0",
        mode: str = "human",
        quality: str = DEFAULT_PRESET,
        control: str = NO_CONTROL,
        control_values: str = "",
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, str]:
        """One grid video comparing several images, audios, guidance scales and/or seeds (comma-separated), and
        optionally one motion control (``control``: pose_scale, expression_scale, lip_scale, sync_offset_ms,
        blink_rate, eye_open, gaze_x or gaze_y) over ``control_values`` (comma-separated, e.g. "0.8, 1, 1.3")."""
        images = [] if images is None else images
        audios = [] if audios is None else audios
        with user_errors(*images, *audios):
            if not isinstance(images, list) or not isinstance(audios, list):
                raise ValueError("images and audios must be lists of files")
            axis = None if control == NO_CONTROL else choice("compared control", control, tuple(CONTROLS))
            values = parse_numbers(control_values, f"{control} values", CONTROLS[axis]) if axis else []
            if axis and not values:
                raise ValueError(f"give the {axis} values to compare, e.g. '0.8, 1, 1.3'")
            cells = plan_cells(
                images, audios,
                parse_numbers(guidance_scales, "guidance scales", GUIDANCE_RANGE) or [DEFAULT_GUIDANCE],
                parse_numbers(seeds, "seeds", SEED_RANGE, integer=True) or [0],
                self.settings.max_compare_cells, axis, values,
            )
            options = animate_options(mode, sampler_config(quality, DEFAULT_GUIDANCE, 0), CropOptions(),
                                      max_audio_seconds=self.settings.max_audio_seconds)
            pictures = {i: self.engine.read_image(_require(i, "Upload at least one image.", "No image"))
                        for i in images}
            speeches = {a: self.engine.read_audio(_require(a, "Upload at least one audio.", "No audio"))
                        for a in audios}
            crops = {i: self.engine.crop(picture, options) for i, picture in pictures.items()}
            runs = [
                (cell, Inputs(pictures[cell.image], speeches[cell.audio], crops[cell.image],
                              output_name(Path(cell.image).stem, Path(cell.audio).stem)))
                for cell in cells
            ]
            comparison = self.engine.compare(runs, options, progress)
        return str(comparison.path), comparison_summary(comparison)

    def preview(
        self, image: str | None, mode: str, crop_mode: str, crop_scale: float, crop_x: float, crop_y: float,
        face_index: float, face_box: str | None,
    ) -> tuple[np.ndarray | None, str]:
        """The crop preview image and its note (problems are shown as the note, never raised). Runs on the CPU
        with the engine's detectors; decoding and detection are remembered per image, so moving a slider only
        redoes the crop."""
        if not image:
            return None, "Upload an image to see the crop."
        try:
            options = animate_options(mode, sampler_config(DEFAULT_PRESET, DEFAULT_GUIDANCE, 0),
                                      crop_options(crop_mode, crop_scale, crop_x, crop_y, face_index, face_box))
            crop = self.engine.crop(self.engine.read_image(image), options)
        except Exception as exc:  # shown in place: the preview must never interrupt editing
            return None, readable(exc, (image,)).message
        return preview_image(crop), crop.note
