"""Training data from talking-head videos: ``python -m model.train prepare --videos DIR --out DATA``.

Every video (any container and frame rate PyAV reads; resampled to 25 fps) is cropped with the project's own
crop code and read by the motion extractor M (in batches, on the chosen device); its audio is decoded to 16 kHz
mono. One clip file per video (:mod:`model.train.data`), then the template and the split. Only the renderer and
face models are needed, not a motion generator. Done clips are skipped (the run resumes); videos that cannot be
used are reported with the reason and left out.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from model.audio.decode import AudioError, load_audio
from model.face.detector import FaceDetector, build_detector
from model.face.source_crop import CropOptions
from model.face.video_frames import DrivingVideoError
from model.render.loading import load_renderer
from model.render.motion_extractor import MotionExtractor
from model.train.data import CLIPS_DIR, FPS, save_clip, write_index
from model.video_motion import read_video_motion
from model.weights import GENERATOR_FILES, resolve

#: File endings looked at in the videos folder.
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm")
#: The shortest usable clip, seconds (shorter ones give the dataset too little to cut from).
MIN_SECONDS = 1.0
#: The longest video read, seconds (longer ones are read up to this point).
MAX_SECONDS = 600.0
REPORT_FILE = "prepare_report.json"


@dataclass(frozen=True)
class VideoOutcome:
    """What became of one video: ``status`` "done", "skipped" (already prepared) or "refused" (with ``reason``)."""

    video: str
    status: str
    reason: str = ""
    frames: int = 0


class _Reader:
    """The motion extractor and face detector of one process."""

    def __init__(self, weights: str | None, device: str) -> None:
        paths = resolve("human", weights, skip=GENERATOR_FILES)
        self.motion_extractor: MotionExtractor = load_renderer(paths, torch.device(device)).motion_extractor
        self.detector: FaceDetector = build_detector(paths, animal=False, device=device)

    def prepare(self, video: Path, target: Path, crop: CropOptions) -> VideoOutcome:
        name = video.name
        try:
            audio = load_audio(video, max_seconds=MAX_SECONDS + 60)
        except AudioError as exc:
            return VideoOutcome(name, "refused", f"no usable audio: {exc}")
        try:
            motion = read_video_motion(video, self.motion_extractor, self.detector, "human", crop, FPS,
                                       int(MAX_SECONDS * FPS))
        except DrivingVideoError as exc:
            reason = "no face" if "no face" in str(exc) else "unreadable"
            return VideoOutcome(name, "refused", f"{reason}: {exc}")
        if len(motion) < MIN_SECONDS * FPS:
            return VideoOutcome(name, "refused", f"too short: {len(motion) / FPS:.2f} s, at least {MIN_SECONDS:g} s")
        arrays = {k: getattr(motion.motion, k) for k in ("exp", "scale", "t", "pitch", "yaw", "roll")}
        arrays.update(eye_ratio=motion.eye_ratio, lip_ratio=motion.lip_ratio)
        meta = {"video": name, "sha256": _sha256(video), "fps": FPS,
                "crop": dataclasses.asdict(crop), "frames_with_face": int(motion.face.sum())}
        save_clip(target, arrays, audio, meta)
        return VideoOutcome(name, "done", frames=len(motion))


def _sha256(path: Path) -> str:
    with path.open("rb") as f:  # streamed: videos can be large
        return hashlib.file_digest(f, "sha256").hexdigest()


_WORKER: _Reader | None = None


def _start_worker(weights: str | None, device: str) -> None:
    global _WORKER  # one reader per worker process, built once
    torch.set_num_threads(1)
    _WORKER = _Reader(weights, device)


def _work(video: Path, target: Path, crop: CropOptions) -> VideoOutcome:
    assert _WORKER is not None
    return _WORKER.prepare(video, target, crop)


def find_videos(folder: Path) -> list[Path]:
    """The video files directly in ``folder`` (by ending), sorted."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of videos")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def _clip_name(video: Path) -> str:
    """A clip name unique per video path (two folders may hold the same file name)."""
    return f"{video.stem}-{hashlib.sha256(str(video.resolve()).encode()).hexdigest()[:8]}"


def prepare(
    videos: Path, out: Path, weights: str | Path | None = None, workers: int = 1, device: str = "cpu",
    crop: CropOptions = CropOptions(),  # noqa: B008 (frozen)
) -> list[VideoOutcome]:
    """Prepare every video of ``videos`` into ``out`` (see the module docstring); returns one outcome per video
    and writes them to ``out/prepare_report.json``."""
    out = Path(out)
    (out / CLIPS_DIR).mkdir(parents=True, exist_ok=True)
    todo: list[tuple[Path, Path]] = []
    outcomes: list[VideoOutcome] = []
    for video in find_videos(Path(videos)):
        target = out / CLIPS_DIR / f"{_clip_name(video)}.npz"
        if target.is_file():
            outcomes.append(VideoOutcome(video.name, "skipped", "already prepared"))
        else:
            todo.append((video, target))
    weights = None if weights is None else str(weights)
    for outcome in _run(todo, weights, workers, device, crop):
        outcomes.append(outcome)
    if any(o.status in ("done", "skipped") for o in outcomes):
        write_index(out)
    (out / REPORT_FILE).write_text(json.dumps([dataclasses.asdict(o) for o in outcomes], indent=1))
    return outcomes


def _run(todo: list[tuple[Path, Path]], weights: str | None, workers: int, device: str,
         crop: CropOptions) -> Iterator[VideoOutcome]:
    if not todo:
        return
    if workers <= 1:
        reader = _Reader(weights, device)
        for video, target in todo:
            yield reader.prepare(video, target, crop)
        return
    context = multiprocessing.get_context("spawn")  # no forked torch or ONNX runtime state
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                                initargs=(weights, device)) as pool:
        yield from pool.map(_work, *zip(*todo, strict=True), [crop] * len(todo))
