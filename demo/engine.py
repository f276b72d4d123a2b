"""The demo's side of the model: one shared ``Animator``, input checks before any GPU work, one GPU limit for
every render (requests and examples alike), the crop preview on the CPU, and output files that never outlive
a failure."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from demo.compare import Cell, tile_videos
from demo.gpu import ZERO_GPU, gpu_task
from demo.options import with_control
from demo.outputs import OutputFolder, output_name
from demo.settings import DemoSettings
from model.audio.decode import Speech
from model.cache import FeatureCache
from model.face.image import SourceImage
from model.face.source_crop import SourceCrop
from model.pipeline import STAGES, AnimateOptions, AnimationResult, Animator
from model.segments import Segment
from model.weights import TrainedGenerator

log = logging.getLogger(__name__)

#: Reports (overall fraction in [0, 1], description); ``gr.Progress`` instances fit.
Reporter = Callable[..., object]
#: Default mode, loaded when the app starts.
PRELOAD_MODE = "human"


def stage_reporter(report: Reporter, start: float = 0.0, span: float = 1.0, prefix: str = "") -> Callable:
    """The Animator's ``(stage, fraction)`` callback, mapped onto ``[start, start + span]`` of ``report``; never
    backwards (motion sampling reports from its own thread while rendering has begun)."""
    shown = [0.0]

    def callback(stage: str, fraction: float) -> None:
        done = (STAGES.index(stage) + fraction) / len(STAGES)
        if done >= shown[0]:
            shown[0] = done
            report(start + span * done, desc=f"{prefix}{stage}")

    return callback


def _feature_cache() -> FeatureCache:
    """The on-disk feature cache (``$JOYVASA_CACHE_DIR``); without it when the folder is unusable."""
    try:
        return FeatureCache()
    except OSError as exc:
        log.warning("feature cache unavailable (%s); every run computes everything", exc)
        return FeatureCache(enabled=False)


@dataclass(frozen=True, eq=False)
class Inputs:
    """One request's decoded inputs and the crop its options make (all computed once, on the CPU)."""

    image: SourceImage
    speech: Speech
    crop: SourceCrop
    name: str


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
        device = "cuda" if ZERO_GPU else (None if settings.device == "auto" else settings.device)
        # Face detection stays on the CPU: the crop preview and the up-front checks run beside a GPU render.
        own = None if not settings.motion_generator else TrainedGenerator(
            Path(settings.motion_generator), Path(settings.motion_template) if settings.motion_template else None)
        self.animator = Animator(device=device, cache=_feature_cache(), detector_device="cpu", generator=own)
        self.outputs = OutputFolder(settings.output_dir, settings.output_max_age_hours * 3600)
        self.preload_error: str | None = None
        self._gpu = threading.BoundedSemaphore(settings.concurrency)
        self._decoded: OrderedDict[tuple[str, int, int], SourceImage] = OrderedDict()
        self._decoded_lock = threading.Lock()
        # ZeroGPU needs the GPU functions decorated before the app launches.
        self.animate = gpu_task(settings.gpu_seconds)(self._animate)
        self.animate_stream = gpu_task(settings.gpu_seconds)(self._animate_stream)
        self.compare = gpu_task(settings.gpu_seconds * settings.max_compare_cells)(self._compare)

    # -- start-up ------------------------------------------------------------------------------
    def preload(self, mode: str = PRELOAD_MODE) -> None:
        """Resolve, verify and load ``mode``'s weights now (at start-up), so no request pays for it; on
        ZeroGPU the networks are moved to "cuda" here, at module level, as ZeroGPU expects. A failure is
        logged and kept for the weights panel; the page still starts."""
        start = time.perf_counter()
        try:
            self.animator.preload(mode)
        except Exception as exc:  # the page must start anyway and show what is wrong
            self.preload_error = str(exc)
            log.warning("could not preload the %s weights: %s", mode, exc)
            return
        log.info("preloaded the %s weights in %.1f s: %s", mode, time.perf_counter() - start,
                 "; ".join(self.animator.loaded()))

    # -- checks before any GPU work ------------------------------------------------------------
    def read_image(self, path: str) -> SourceImage:
        """The decoded image at ``path`` (remembered per file, so slider ticks of the preview decode once)."""
        info = Path(path).stat()
        key = (str(path), info.st_size, info.st_mtime_ns)
        with self._decoded_lock:
            if key in self._decoded:
                self._decoded.move_to_end(key)
                return self._decoded[key]
        image = SourceImage.read(path, self.settings.max_image_pixels)
        with self._decoded_lock:
            self._decoded[key] = image
            while len(self._decoded) > 8:
                self._decoded.popitem(last=False)
        return image

    def read_audio(self, path: str) -> Speech:
        return Speech.read(path, self.settings.max_audio_seconds)

    def crop(self, image: SourceImage, options: AnimateOptions) -> SourceCrop:
        """The crop a run would make (the preview's and the up-front check's), on the CPU."""
        return self.animator.crop(image, options)

    def prepare(self, image: str, audio: str, options: AnimateOptions) -> Inputs:
        """Decode both inputs and make the crop, raising a readable error for anything wrong, before any GPU
        time is asked for."""
        picture = self.read_image(image)
        speech = self.read_audio(audio)
        return Inputs(picture, speech, self.crop(picture, options), output_name(Path(image).stem, Path(audio).stem))

    # -- GPU work --------------------------------------------------------------------------------
    @contextmanager
    def _gpu_slot(self) -> Iterator[None]:
        """One of ``settings.concurrency`` slots on the device, shared by requests and examples."""
        with self._gpu:
            yield

    @contextmanager
    def _run_folder(self) -> Iterator[Path]:
        """A fresh output folder that is removed with everything in it if the run fails."""
        folder = self.outputs.new_run()
        try:
            yield folder
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def _animate(self, inputs: Inputs, options: AnimateOptions, report: Reporter) -> AnimationResult:
        """One video; the mp4 appears only when complete."""
        with self._gpu_slot(), self._run_folder() as folder:
            return self.animator.animate(inputs.image, inputs.speech, folder / f"{inputs.name}.mp4", options,
                                         stage_reporter(report))

    def _animate_stream(
        self, inputs: Inputs, options: AnimateOptions, report: Reporter
    ) -> Iterator[Segment | AnimationResult]:
        """One video's segments as they are made, then its result (the complete mp4). Closing the generator
        (a closed page, a cancelled job) stops the run and removes everything it made."""
        with self._gpu_slot(), self._run_folder() as folder:
            stream = self.animator.animate_stream(inputs.image, inputs.speech, folder / f"{inputs.name}.mp4",
                                                  options, stage_reporter(report))
            with stream:
                yield from stream
            yield stream.result

    def _compare(self, cells: list[tuple[Cell, Inputs]], options: AnimateOptions, report: Reporter) -> Comparison:
        """Every cell's video (guidance and seed per cell, the rest from ``options``), then one grid mp4."""
        start = time.perf_counter()
        span = 1 / (len(cells) + 1)  # the last share is the tiling
        results = []
        with self._gpu_slot(), self._run_folder() as folder:
            for index, (cell, inputs) in enumerate(cells):
                sampler = dataclasses.replace(options.sampler, cfg_scale=cell.guidance_scale, seed=cell.seed)
                cell_options = with_control(dataclasses.replace(options, sampler=sampler), cell.control, cell.value)
                callback = stage_reporter(report, index * span, span, f"video {index + 1}/{len(cells)}: ")
                results.append(self.animator.animate(inputs.image, inputs.speech, folder / f"cell{index}.mp4",
                                                     cell_options, callback))
            report(1 - span, desc="grid")
            grid = tile_videos([r.path for r in results], [c.label for c, _ in cells], cells[0][1].speech.path,
                               folder / "comparison.mp4", options.video)
            report(1.0, desc="grid")
        return Comparison(grid, [c for c, _ in cells], results, time.perf_counter() - start)
