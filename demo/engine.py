"""The demo's side of the model: one shared ``Animator``, progress reporting, GPU slots and output files."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from demo.compare import Cell, tile_videos
from demo.gpu import gpu_task
from demo.outputs import OutputFolder
from demo.settings import DemoSettings
from model.cache import FeatureCache
from model.face.detector import FaceDetector, build_detector
from model.face.image import load_image
from model.face.source_crop import CropOptions, SourceCrop, crop_source
from model.pipeline import STAGES, AnimateOptions, AnimationResult, Animator
from model.weights import MissingWeightsError, resolve

log = logging.getLogger(__name__)

#: Reports (overall fraction in [0, 1], description); ``gr.Progress`` instances fit.
Reporter = Callable[..., object]


def stage_reporter(report: Reporter, start: float = 0.0, span: float = 1.0, prefix: str = "") -> Callable:
    """The Animator's ``(stage, fraction)`` callback, mapped onto ``[start, start + span]`` of ``report``."""

    def callback(stage: str, fraction: float) -> None:
        done = (STAGES.index(stage) + fraction) / len(STAGES)
        report(start + span * done, desc=f"{prefix}{stage}")

    return callback


def _feature_cache() -> FeatureCache:
    """The on-disk feature cache (``$JOYVASA_CACHE_DIR``); without it when the folder is unusable."""
    try:
        return FeatureCache()
    except OSError as exc:
        log.warning("feature cache unavailable (%s); every run computes everything", exc)
        return FeatureCache(enabled=False)


@dataclass
class Comparison:
    """A finished comparison: the grid mp4 and each cell's run."""

    path: Path
    cells: list[Cell]
    results: list[AnimationResult]
    seconds: float


class Engine:
    """Runs animations and comparisons for the page and the API; one per app, shared by all requests."""

    def __init__(self, settings: DemoSettings) -> None:
        self.settings = settings
        self.animator = Animator(device=None if settings.device == "auto" else settings.device, cache=_feature_cache())
        self.outputs = OutputFolder(settings.output_dir, settings.output_max_age_hours * 3600)
        self._detectors: dict[tuple, FaceDetector] = {}
        # ZeroGPU needs the GPU functions decorated before the app launches.
        self.animate = gpu_task(settings.gpu_seconds)(self._animate)
        self.compare = gpu_task(settings.gpu_seconds * settings.max_compare_cells)(self._compare)

    def crop(self, image: str, mode: str, options: CropOptions) -> SourceCrop:
        """The crop a run would make (for the preview): the same detector choice, on the CPU, never downloading."""
        try:
            paths = resolve(mode, download=False)
        except MissingWeightsError:
            paths = None  # the cascade, as a run would use without the ONNX detectors
        key = (mode, tuple(sorted(paths.paths.items())) if paths else ())
        if key not in self._detectors:
            self._detectors[key] = build_detector(paths, "auto", animal=mode == "animal")
        return crop_source(load_image(image), mode, options, self._detectors[key])

    def _animate(self, image: str, audio: str, options: AnimateOptions, report: Reporter) -> AnimationResult:
        """One video; the mp4 appears only when complete."""
        out = self.outputs.new_run() / f"{Path(image).stem}_{Path(audio).stem}.mp4"
        return self.animator.animate(image, audio, out, options, stage_reporter(report))

    def _compare(
        self, cells: list[Cell], options: AnimateOptions, report: Reporter
    ) -> Comparison:
        """Every cell's video (guidance and seed per cell, the rest from ``options``), then one grid mp4."""
        start = time.perf_counter()
        folder = self.outputs.new_run()
        span = 1 / (len(cells) + 1)  # the last share is the tiling
        results = []
        for index, cell in enumerate(cells):
            sampler = dataclasses.replace(options.sampler, cfg_scale=cell.guidance_scale, seed=cell.seed)
            cell_options = dataclasses.replace(options, sampler=sampler)
            callback = stage_reporter(report, index * span, span, f"video {index + 1}/{len(cells)}: ")
            results.append(self.animator.animate(cell.image, cell.audio, folder / f"cell{index}.mp4", cell_options,
                                                 callback))
        report(1 - span, desc="grid")
        grid = tile_videos([r.path for r in results], [c.label for c in cells], cells[0].audio,
                           folder / "comparison.mp4", options.video)
        report(1.0, desc="grid")
        return Comparison(grid, cells, results, time.perf_counter() - start)
