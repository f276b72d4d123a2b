"""``Animator``: one image and one speech recording in, a talking-face mp4 out.

The stages, in order (each reported to the progress callback, timed, and cached where it pays):

1. inputs: decode the image and the audio, clamp the image, find and crop the face (clear errors
   for bad files, a face index past the faces found or a box outside the image, before any network
   runs);
2. source: run F and M once on the crop (cached, with the crop, by image bytes, crop options, mode
   and weights);
3. audio features: HuBERT on every 4 s window (cached by the decoded samples and the encoder);
4. motion: the diffusion sampler over the windows, then decoding and smoothing (cached by the
   audio, seed, sampler and guidance settings and the generator);
5. render: compose the driving keypoints of all frames, W+G in batches, paste back, and encode
   while rendering (memory does not grow with length); the mp4 appears only when complete.

Models load lazily per mode (or up front with ``preload``); human and animal modes share the motion
generator.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from model.audio.decode import Speech
from model.cache import FeatureCache, audio_key, motion_key, source_key, weights_fingerprint
from model.face.detector import FaceDetector, MemoDetector, build_detector
from model.face.image import SourceImage
from model.face.paste import TorchPasteBack, paste_back, prepare_paste_back
from model.face.source_crop import CropOptions, SourceCrop, crop_source
from model.face.video_frames import video_frames
from model.motion.blinks import blink_closure
from model.motion.checkpoint import load_motion_generator
from model.motion.generate import POSE_ENDS, MotionDecoder, shift_frames, with_video_pose
from model.motion.generator import MotionGenerator
from model.motion.sampler import SamplerConfig
from model.motion.sequence import MotionSequence
from model.motion.template import MotionTemplate, load_motion_template
from model.motion.windows import iter_windows
from model.precision import DTYPES, PRECISIONS, Precision, choose_batch_size, choose_precision
from model.render.composition import CompositionOptions, SourceMotion, driving_keypoints
from model.render.keypoints import eye_close_ratio, lip_close_ratio
from model.render.loading import RendererNetworks, load_renderer
from model.render.renderer import PreparedSource, attach_source, prepare_source, render
from model.segments import Segment
from model.stages import Background, Sink
from model.validation import Range, check_number
from model.video import VideoOptions, VideoWriter, frames_for_audio
from model.video_motion import read_video_motion
from model.weights import TrainedGenerator, WeightPaths, resolve

Mode = Literal["human", "animal"]
#: Progress callback: (stage name, fraction of that stage done in [0, 1]).
Progress = Callable[[str, float], None]
#: Stages reported to the progress callback, in order (pose: only with a driving video; motion and render
#: overlap: render reports once its first frames exist).
STAGES = ("inputs", "source", "pose", "motion", "render")
#: Accepted sync offsets, in milliseconds.
SYNC_OFFSET_RANGE = Range(-500.0, 500.0)
#: Paste-back set-ups kept (per source image and crop), most recently used last.
PASTE_MEMORY = 4
#: Source keypoint info fields kept in the cache (SourceMotion minus the derived R and x_s).
_KP_FIELDS = ("kp", "pitch", "yaw", "roll", "exp", "scale", "t")


@dataclass(frozen=True)
class AnimateOptions:
    """Everything a user can choose; defaults are the official web demo's (spec joyvasa.md §5.5).

    mode: ``human`` or ``animal``. crop: face crop settings. sampler: sampler kind, steps, guidance
    scale (4.0 in the official demo) and seed (fixed by default, so a run is reproducible).
    smooth: the official EMA on head pose, scale and translation. composition: how motion drives
    the face (None: the defaults for ``mode``). pasteback: paste the animated crop back into the
    full image (needs cropping and stitching, as officially). batch_size: frames per W+G call (None: the
    device's best, see :mod:`model.precision`). precision: of W and G, ``auto`` (float32 with the exact
    sampler, else the fastest the device runs natively), ``fp32``, ``bf16`` or ``fp16`` (GPU). detector:
    ``auto`` (ONNX models when present, else the OpenCV cascade), ``onnx`` or ``cascade``.
    sync_offset_ms: moves the motion against the audio (positive: earlier; the official alignment shows the
    video about 80 ms behind the audio), in whole frames; the video keeps the audio's duration.
    driving_motion: a saved motion (see :mod:`model.motion.files`) to drive the image instead of sampling one.
    pose_from: a driving video whose head pose (read by the motion extractor, frame by frame, at the motion's fps)
    replaces the generated one; lips and expression still come from the audio. pose_end: past the video's end
    the pose is held at its last frame (``hold``) or the video starts over (``loop``).
    """

    mode: Mode = "human"
    crop: CropOptions = field(default_factory=CropOptions)
    sampler: SamplerConfig = field(default_factory=lambda: SamplerConfig(cfg_scale=4.0, seed=0))
    smooth: bool = True
    composition: CompositionOptions | None = None
    pasteback: bool = True
    batch_size: int | None = None
    precision: Precision = "auto"
    sync_offset_ms: float = 0.0
    driving_motion: MotionSequence | None = None
    pose_from: Path | None = None
    pose_end: str = "hold"
    video: VideoOptions = field(default_factory=VideoOptions)
    detector: Literal["auto", "onnx", "cascade"] = "auto"

    def __post_init__(self) -> None:
        if self.mode not in ("human", "animal"):
            raise ValueError(f"mode must be 'human' or 'animal', got {self.mode!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {self.precision!r}")
        if self.batch_size is not None:
            check_number("batch size", self.batch_size, Range(1, 256), integer=True)
        check_number("sync offset in ms", self.sync_offset_ms, SYNC_OFFSET_RANGE)
        if self.pose_end not in POSE_ENDS:
            raise ValueError(f"pose end must be one of {', '.join(POSE_ENDS)}; got {self.pose_end!r}")
        if self.composition is not None and self.composition.mode != self.mode:
            raise ValueError(f"composition.mode {self.composition.mode!r} differs from mode {self.mode!r}")

    @property
    def effective_composition(self) -> CompositionOptions:
        return self.composition or CompositionOptions(mode=self.mode)



@dataclass(frozen=True)
class CacheKeys:
    """A run's feature-cache keys: source image, audio features, motion (None: unseeded, never cached)."""

    source: str
    audio: str
    motion: str | None


@dataclass
class AnimationResult:
    """What a run produced: the mp4, its frame count and size (height, width), seconds per stage (``motion``
    and ``render`` overlap; ``total`` is the wall time), cache hits, notes, and, for a stream, how many segments
    were yielded and when the first one was (seconds after the start); ``motion``: the decoded motion that
    drove the video (after the sync offset, before the composition's intensities), for saving."""

    path: Path
    n_frames: int
    size: tuple[int, int]
    timings: dict[str, float] = field(default_factory=dict)
    cache_hits: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    segments: int = 0
    first_segment_seconds: float | None = None
    motion: MotionSequence | None = None

    def summary(self) -> str:
        stages = ", ".join(
            f"{name} {seconds:.2f} s{' (cached)' if self.cache_hits.get(name) else ''}"
            for name, seconds in self.timings.items()
        )
        first = self.first_segment_seconds
        first = "" if first is None else f", first segment after {first:.2f} s"
        return f"{self.n_frames} frames {self.size[1]}x{self.size[0]} -> {self.path} | {stages}{first}"


class AnimationStream:
    """The segments of a run as they are made (iterate), then :attr:`result`; :meth:`close` (or leaving a
    ``with`` block, or dropping the stream) stops every stage of the run and removes what it made."""

    def __init__(self, run: Iterator[Segment | AnimationResult]) -> None:
        self._run = run
        self.result: AnimationResult | None = None

    def __iter__(self) -> Iterator[Segment]:
        for item in self._run:
            if isinstance(item, AnimationResult):
                self.result = item
            else:
                yield item

    def close(self) -> None:
        self._run.close()  # runs the run's cleanup (threads stopped, partial files removed) if it had not ended

    def __enter__(self) -> AnimationStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pick_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"``: CUDA when available, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class Animator:
    """Loads weights (lazily, or up front with :meth:`preload`) and turns (image, audio) into an mp4; safe to
    share between threads."""

    def __init__(
        self,
        weights_dir: str | Path | None = None,
        device: str | torch.device | None = None,
        cache: FeatureCache | None = None,
        download: bool = True,
        detector_device: str | torch.device | None = None,
        generator: TrainedGenerator | None = None,
    ) -> None:
        self.weights_dir = weights_dir
        #: A motion generator of one's own in place of the released one (None: the release).
        self.trained_generator = generator
        self.device = pick_device(device)
        #: Where face detection runs (the demo keeps it on the CPU, beside a GPU render); default: ``device``.
        self.detector_device = pick_device(detector_device) if detector_device is not None else self.device
        self.cache = cache if cache is not None else FeatureCache(enabled=False)
        self.download = download
        self._lock = threading.RLock()
        self._paths: dict[str, WeightPaths] = {}
        self._renderers: dict[str, RendererNetworks] = {}
        self._detectors: dict[tuple[str, str], FaceDetector] = {}
        self._generator: MotionGenerator | None = None
        self._template: MotionTemplate | None = None
        self._revisions: dict[str, str] = {}
        self._pastes: OrderedDict[str, Callable] = OrderedDict()

    # -- lazily loaded parts -----------------------------------------------------------------
    def weights(self, mode: str) -> WeightPaths:
        with self._lock:
            if mode not in self._paths:
                own = self.trained_generator
                skip = () if own is None else tuple(own.replaced)
                paths = resolve(mode, self.weights_dir, download=self.download, skip=skip)
                self._paths[mode] = paths if own is None else own.apply(paths)
            return self._paths[mode]

    def renderer(self, mode: str) -> RendererNetworks:
        with self._lock:
            if mode not in self._renderers:
                self._renderers[mode] = load_renderer(self.weights(mode), self.device)
            return self._renderers[mode]

    def generator(self, mode: str) -> tuple[MotionGenerator, MotionTemplate]:
        """The motion generator and template, shared by both modes (loaded once)."""
        with self._lock:
            if self._generator is None:
                paths = self.weights(mode)
                self._generator = load_motion_generator(paths["motion_generator"], paths["hubert_config"], self.device)
                self._template = load_motion_template(paths["motion_template"])
            assert self._template is not None
            return self._generator, self._template

    def detector(self, mode: str, prefer: str = "auto") -> FaceDetector:
        """The face detector of ``mode`` (remembering its answers per image), built once."""
        with self._lock:
            if (mode, prefer) not in self._detectors:
                detector = build_detector(
                    self.weights(mode), prefer=prefer, animal=mode == "animal", device=str(self.detector_device)
                )
                self._detectors[mode, prefer] = MemoDetector(detector)
            return self._detectors[mode, prefer]

    def preload(self, mode: str) -> None:
        """Resolve (downloading if allowed), verify and load everything ``mode`` needs, so no run pays for it."""
        self.renderer(mode)
        self.generator(mode)
        self.detector(mode)
        self.revision("source", mode)
        self.revision("generator", mode)

    def loaded(self) -> list[str]:
        """What is loaded now, in words (for a status panel)."""
        with self._lock:
            parts = [f"{mode} renderer (F, M, W, G, S) on {self.device}" for mode in self._renderers]
            if self._generator is not None:
                parts.append(f"motion generator and HuBERT on {self.device}")
            parts += [f"{mode} face detector: {d.name} on {self.detector_device}"
                      for (mode, _), d in self._detectors.items()]
            return parts

    def crop(self, image: SourceImage, options: AnimateOptions) -> SourceCrop:
        """The face crop a run with ``options`` makes of ``image`` (detection is remembered per image, so the
        preview, the up-front checks and the run detect once). Raises :class:`NoFaceError` or a ValueError
        (face index past the faces found, manual box outside the image) with a readable message."""
        return crop_source(image.pixels, options.mode, options.crop, self.detector(options.mode, options.detector))

    def head_pose(self, video: str | Path, options: AnimateOptions, max_frames: int) -> np.ndarray:
        """The head pose the motion extractor M reads from up to ``max_frames`` frames of ``video`` (resampled to
        the motion's fps, cropped with the run's crop settings; see :func:`model.video_motion.read_video_motion`):
        (m, 7) float32 [scale, tx, ty, tz, pitch, yaw, roll], degrees for the angles. Raises
        :class:`DrivingVideoError` for an unusable video or one where no frame shows a face."""
        detector = self.detector(options.mode, options.detector).detector  # frames are not worth remembering
        fps = self.generator(options.mode)[0].config.fps
        motion = read_video_motion(video, self.renderer(options.mode).motion_extractor, detector, options.mode,
                                   options.crop, fps, max_frames)
        return motion.motion.pose()

    def revision(self, name: str, mode: str) -> str:
        """Cache-key revision of the weights behind a stage (cheap fingerprint, computed once)."""
        keys = {
            "source": [f"{mode}.appearance_feature_extractor", f"{mode}.motion_extractor", f"{mode}.renderer_config",
                       "det_10g", "2d106det", "landmark", "xpose", "xpose.embedding_9", "xpose.embedding_68"],
            "generator": ["motion_generator", "hubert_config"],
        }[name]
        with self._lock:
            tag = f"source:{mode}" if name == "source" else name  # the generator files serve both modes
            if tag not in self._revisions:
                paths = self.weights(mode)
                self._revisions[tag] = weights_fingerprint(p for k in keys if (p := paths.get(k)) is not None)
            return self._revisions[tag]

    # -- the run ---------------------------------------------------------------------------------
    def animate(
        self,
        image: str | Path | bytes | SourceImage,
        audio: str | Path | Speech,
        out_path: str | Path,
        options: AnimateOptions = AnimateOptions(),
        progress: Progress | None = None,
    ) -> AnimationResult:
        """Animate ``image`` (a path, the file's bytes, or already decoded) with ``audio`` (a path, or already
        decoded) into ``out_path`` (mp4). The same run as :meth:`animate_stream`, without the segments."""
        stream = AnimationStream(self._run(image, audio, out_path, options, progress, False, None))
        for _ in stream:
            pass
        return stream.result

    def animate_stream(
        self,
        image: str | Path | bytes | SourceImage,
        audio: str | Path | Speech,
        out_path: str | Path,
        options: AnimateOptions = AnimateOptions(),
        progress: Progress | None = None,
        segment_dir: str | Path | None = None,
    ) -> AnimationStream:
        """The run of :meth:`animate`, yielding self-contained segments of the video (``options.video.
        segment_seconds`` long: H.264 and AAC in a fragmented mp4 each) as soon as each is encoded, while the
        rest is sampled and rendered; ``out_path`` gets the complete mp4 at the end (the same packets, so the
        segments hold exactly its frames). ``segment_dir``: where the segments are kept (None: a temporary
        folder removed when the stream ends). Closing the stream early stops every stage and removes the
        segments and the partial mp4."""
        return AnimationStream(self._run(image, audio, out_path, options, progress, True, segment_dir))

    def _run(
        self, image: str | Path | bytes | SourceImage, audio: str | Path | Speech, out_path: str | Path,
        options: AnimateOptions, progress: Progress | None, segments: bool, segment_dir: str | Path | None,
    ) -> Iterator[Segment | AnimationResult]:
        """The run, top to bottom: inputs, source, then motion sampled window by window on a worker thread
        (one window ahead), composed and rendered here, pasted back and encoded on another (segments yielded
        as they close), and finally the result."""
        report = progress or (lambda stage, fraction: None)
        result = AnimationResult(path=Path(out_path), n_frames=0, size=(0, 0))
        start = time.perf_counter()
        precision = choose_precision(options.precision, self.device, exact=options.sampler.kind == "ddpm")

        @contextmanager
        def stage(name: str) -> Iterator[None]:
            report(name, 0.0)
            began = time.perf_counter()
            yield
            result.timings[name] = time.perf_counter() - began
            report(name, 1.0)

        with stage("inputs"):
            picture = SourceImage.read(image)
            speech = Speech.read(audio, max_seconds=options.video.max_audio_seconds)
            if options.pose_from is not None:  # a readable video with a frame, before any network loads
                next(video_frames(options.pose_from, 25.0, 1))
            # The crop is made (and a face index past the faces found refused) before any network loads, unless
            # the cache already holds this source.
            stored_source = self.cache.get(self.source_key(picture, options))
            crop = _crop_from_arrays(stored_source) if stored_source is not None else self.crop(picture, options)
            keys = self.cache_keys(picture, speech.samples, options)
        with stage("source"):
            source, result.cache_hits["source"] = self._source(crop, stored_source, options, keys.source)
            result.notes.append(crop.note)
        generator, template = self.generator(options.mode)
        nets = self.renderer(options.mode)
        composition = options.effective_composition
        paste, note = self._paste_back(crop, nets, options, keys.source)
        batch_size = options.batch_size or choose_batch_size(self.device, source.feature_3d.numel())
        result.notes.append(f"{note}; rendered in {precision}, {batch_size} frame(s) per batch")
        video_options = dataclasses.replace(options.video, fps=round(generator.config.fps))
        video_pose = None
        if options.pose_from is not None:
            with stage("pose"):
                video_pose = self.head_pose(options.pose_from, options,
                                            frames_for_audio(len(speech.samples), video_options.fps))
            result.notes.append(f"head pose from {Path(options.pose_from).name}: {len(video_pose)} frames, "
                                f"then {options.pose_end}")
        own_folder = segments and segment_dir is None
        folder = Path(tempfile.mkdtemp(prefix="joyvasa-segments-")) if own_folder else segment_dir
        writer = VideoWriter(out_path, speech.path, video_options, len(speech.samples), folder)

        def produce(check: Callable[[], None]) -> Iterator[MotionSequence]:
            if options.driving_motion is not None:  # a saved motion drives the image: nothing is sampled
                chunks = _windows_of(options.driving_motion, generator.config.n_motions)
            else:
                decode = MotionDecoder(template, generator.config.fps, options.smooth)
                chunks = map(decode, self._motion_chunks(generator, speech.samples, keys, options, result, report,
                                                          check))
            chunks = shift_frames(chunks, round(options.sync_offset_ms * generator.config.fps / 1000))
            return chunks if video_pose is None else with_video_pose(chunks, video_pose, options.pose_end)

        blinks = blink_closure(writer.frames_needed, generator.config.fps, composition.blink_rate,
                               options.sampler.seed)
        motion = Background(produce, ahead=1, name="motion")
        encoder = Sink(lambda frames: writer.write(paste(frames) if paste else frames), ahead=2, name="encoder")
        finished = False
        try:
            reference: MotionSequence | None = None
            render_began = None
            driven = []
            composed = 0
            for frames in motion:
                render_began = render_began or time.perf_counter()
                driven.append(frames)
                reference = reference or frames.frames(slice(0, 1))
                # Composition is relative to the sequence's first frame: it leads every chunk, then is dropped.
                closure = np.zeros(len(frames) + 1, np.float32)
                scheduled = blinks[composed : composed + len(frames)]
                closure[1 : 1 + len(scheduled)] = scheduled
                x_d = driving_keypoints(nets.stitching, source.motion, MotionSequence.concat([reference, frames]),
                                        composition, closure)[1:]
                composed += len(frames)
                x_d = x_d[: writer.frames_needed - result.n_frames]
                for batch in render(nets, source, x_d, batch_size=batch_size, dtype=DTYPES[precision]):
                    encoder.put(batch)
                    result.n_frames += len(batch)
                    report("render", result.n_frames / writer.frames_needed)
                    yield from self._segments_out(writer, result, start)
                if result.n_frames >= writer.frames_needed:
                    break
            encoder.finish()
            writer.close()
            result.motion = MotionSequence.concat(driven).frames(slice(0, writer.frames_written))
            result.timings["render"] = time.perf_counter() - (render_began or start)
            yield from self._segments_out(writer, result, start)
            result.n_frames, result.size = writer.frames_written, writer.size or (0, 0)
            result.timings["total"] = time.perf_counter() - start
            finished = True
            yield result
        finally:
            motion.close()
            encoder.close()
            if not finished:
                writer.abort()
            if own_folder:
                shutil.rmtree(folder, ignore_errors=True)

    @staticmethod
    def _segments_out(writer: VideoWriter, result: AnimationResult, start: float) -> Iterator[Segment]:
        for segment in writer.take_segments():
            if result.first_segment_seconds is None:
                result.first_segment_seconds = time.perf_counter() - start
            result.segments += 1
            yield segment

    def _motion_chunks(
        self, generator: MotionGenerator, pcm: np.ndarray, keys: CacheKeys, options: AnimateOptions,
        result: AnimationResult, report: Progress, check: Callable[[], None],
    ) -> Iterator[np.ndarray]:
        """Normalised motion coefficients (n, m), one window at a time: from the cache (a warm run starts
        rendering at once), else sampled window by window, with HuBERT run per window unless its features are
        cached; both are stored in the cache at the end."""
        began = time.perf_counter()
        cached = self.cache.get(keys.motion) if keys.motion is not None else None
        result.cache_hits["motion"] = cached is not None
        if cached is not None:
            result.cache_hits["audio features"] = True
            n = generator.config.n_motions
            for start in range(0, len(cached["coef"]), n):
                yield cached["coef"][start : start + n]
            result.timings["motion"] = time.perf_counter() - began
            return
        stored = self.cache.get(keys.audio)
        result.cache_hits["audio features"] = stored is not None
        features = None if stored is None else torch.from_numpy(stored["features"]).to(self.device)
        coef, feats = [], []
        for window in iter_windows(generator, pcm, options.sampler, features=features,
                                   on_step=lambda step, state: check()):
            report("motion", (window.index + 1) / window.n_windows)
            feats.append(window.audio_feat.cpu().numpy())
            coef.append(window.kept_motion.cpu().numpy())
            yield coef[-1]
        if stored is None:
            self.cache.put(keys.audio, {"features": np.stack(feats)})
        if keys.motion is not None:
            self.cache.put(keys.motion, {"coef": np.concatenate(coef)})
        result.timings["motion"] = time.perf_counter() - began

    def source_key(self, image: SourceImage, options: AnimateOptions) -> str:
        """The source entry's key: the image file, every crop setting, the detector, the mode's networks."""
        detector = self.detector(options.mode, options.detector)
        return source_key(image.data, {"crop": options.crop, "detector": detector.name}, options.mode,
                          self.revision("source", options.mode))

    def cache_keys(self, image: SourceImage, samples: np.ndarray, options: AnimateOptions) -> CacheKeys:
        """The feature-cache keys of a run: each covers everything that changes its entry, and nothing else
        (the composition, smoothing and output options act after the cache and change no key)."""
        generator, _ = self.generator(options.mode)
        source = self.source_key(image, options)
        audio = audio_key(samples, self.revision("generator", options.mode))
        sampler = options.sampler
        if sampler.seed is None:  # a fresh random motion every run: nothing to reuse
            return CacheKeys(source, audio, None)
        # The seeded noise is drawn on the sampling device, and CPU and CUDA generators draw different numbers for
        # one seed: the device type is part of what makes the motion.
        settings = {"kind": sampler.kind, "steps": sampler.steps_for(generator.config.n_diff_steps),
                    "precompute_memory": sampler.precompute_memory, "noise_device": self.device.type,
                    "denoiser": generator.settings}
        motion = motion_key(audio, sampler.seed, settings, {"cfg_scale": sampler.cfg_scale},
                            self.revision("generator", options.mode))
        return CacheKeys(source, audio, motion)

    def _source(
        self, crop: SourceCrop, stored: dict[str, np.ndarray] | None, options: AnimateOptions, key: str
    ) -> tuple[PreparedSource, bool]:
        """F and M on the crop, or their outputs from the cache entry ``stored``."""
        nets = self.renderer(options.mode)
        if stored is not None:
            lip_ratio = float(stored["lip_ratio"][0]) if stored["lip_ratio"].size else None
            info = {k: torch.from_numpy(stored[f"kp_{k}"]).to(self.device) for k in _KP_FIELDS}
            motion = SourceMotion.from_kp_info(info, lip_ratio, _eye_ratio(crop))
            return attach_source(nets, torch.from_numpy(stored["feature_3d"]).to(self.device), motion), True
        lip_ratio = None if crop.landmarks is None else float(lip_close_ratio(crop.landmarks[None])[0, 0])
        source = prepare_source(nets, crop.crop_256, lip_ratio, _eye_ratio(crop))
        self.cache.put(key, {
            **_crop_to_arrays(crop),
            "lip_ratio": np.array([] if lip_ratio is None else [lip_ratio], np.float64),
            "feature_3d": source.feature_3d.cpu().numpy(),
            **{f"kp_{k}": getattr(source.motion, k).cpu().numpy() for k in _KP_FIELDS},
        })
        return source, False

    def _paste_back(
        self, crop: SourceCrop, nets: RendererNetworks, options: AnimateOptions, source_entry: str
    ) -> tuple[Callable[[torch.Tensor], np.ndarray | torch.Tensor] | None, str]:
        """The paste-back function of this source (None: the crop is the output) and a note saying which; its
        set-up (mask, matrices, sampling grid) is kept with the source, for the next run on the same image."""
        composition = options.effective_composition
        if options.pasteback and crop.method != "none" and composition.stitching:
            with self._lock:
                paste = self._pastes.pop(source_entry, None)
            if paste is None:
                paste = _paste_function(crop, nets.config.output_size, self.device)
            with self._lock:
                self._pastes[source_entry] = paste
                while len(self._pastes) > PASTE_MEMORY:
                    self._pastes.popitem(last=False)
            return paste, "pasted back into the full image"
        if options.pasteback:
            return None, "crop output (paste-back needs cropping and stitching)"
        return None, "crop output"

def _windows_of(motion: MotionSequence, frames: int) -> Iterator[MotionSequence]:
    """A whole motion as chunks of ``frames`` frames, as the sampler would produce it."""
    for start in range(0, len(motion), frames):
        yield motion.frames(slice(start, start + frames))


def _paste_function(
    crop: SourceCrop, frame_size: int, device: torch.device
) -> Callable[[torch.Tensor], np.ndarray | torch.Tensor]:
    """Paste-back of a batch of rendered crops (B, S, S, 3) uint8: torch on the GPU, OpenCV on the CPU.

    Both are exact (bit-equal to OpenCV's warpAffine blend); on a CPU OpenCV is the faster one.
    """
    prepared = prepare_paste_back(crop.image, crop.M_c2o, frame_size)
    if device.type == "cuda":
        return TorchPasteBack.from_prepared(prepared, device)
    return lambda frames: paste_back(frames.cpu().numpy(), prepared)


def _eye_ratio(crop: SourceCrop) -> tuple[float, float] | None:
    """The source's (left, right) eye-open ratios from its 203 landmarks; None without them."""
    if crop.landmarks is None:
        return None
    left, right = eye_close_ratio(crop.landmarks[None])[0]
    return float(left), float(right)


def _crop_to_arrays(crop: SourceCrop) -> dict[str, np.ndarray]:
    return {
        "image": crop.image, "crop_512": crop.crop_512, "crop_256": crop.crop_256, "M_c2o": crop.M_c2o,
        "landmarks": crop.landmarks if crop.landmarks is not None else np.zeros((0, 2), np.float32),
        "method": np.array(crop.method), "note": np.array(crop.note),
    }


def _crop_from_arrays(stored: dict[str, np.ndarray]) -> SourceCrop:
    landmarks = stored["landmarks"] if stored["landmarks"].size else None
    return SourceCrop(
        image=stored["image"], crop_512=stored["crop_512"], crop_256=stored["crop_256"], M_c2o=stored["M_c2o"],
        landmarks=landmarks, face=None, method=str(stored["method"]), note=str(stored["note"]) + " (cached)",
    )
