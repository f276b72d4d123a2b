"""Training data on disk: one ``.npz`` per video clip, the motion template, the train/test split; the dataset.

A prepared data folder holds ``clips/<name>.npz`` (never pickles: ``np.load(allow_pickle=False)``), each with
the per-frame motion at 25 fps (exp (n, 21, 3), scale (n, 1), t (n, 3), pitch/yaw/roll (n, 1) in degrees, eye
(n, 2) and lip (n, 1) ratios, NaN without landmarks), the 16 kHz mono audio cut or padded to exactly n * 640
samples, the crop settings and the source video's sha256; then ``template.pkl`` (the official 45-key template,
statistics over every frame of every clip) and ``split.json`` ({"train": [...], "test": [...]}, names).

:class:`ClipDataset` draws training items the official way (spec joyvasa.md §7.2): a random 200-frame stretch
(clips of 202 frames or fewer are repeated until longer), cut into two clips of L frames and their audio,
normalised with the template.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.motion.template import EXP_DIM, MotionTemplate, load_motion_template, save_motion_template
from model.rotation import get_rotation_matrix

CLIP_FORMAT = "joyvasa-clip-1"
FPS = 25
SAMPLE_RATE = 16000
#: Audio samples per motion frame.
AUDIO_UNIT = SAMPLE_RATE // FPS
CLIPS_DIR = "clips"
TEMPLATE_FILE = "template.pkl"
SPLIT_FILE = "split.json"
_MOTION_KEYS = ("exp", "scale", "t", "pitch", "yaw", "roll", "eye_ratio", "lip_ratio")


class TrainingDataError(ValueError):
    """A data folder or clip file that cannot be used for training."""


def save_clip(path: Path, motion: dict[str, np.ndarray], audio: np.ndarray, meta: dict[str, object]) -> Path:
    """Write one clip: ``motion`` arrays (see the module docstring), ``audio`` (any length: cut or zero-padded
    to n * 640 samples) and ``meta`` (JSON-able: crop settings, video hash, ...). Written to a temporary name
    and renamed, so a clip file is whole or absent."""
    n = len(motion["exp"])
    pcm = np.zeros(n * AUDIO_UNIT, np.float32)
    pcm[: min(len(audio), len(pcm))] = audio[: len(pcm)]
    arrays = {k: np.asarray(motion[k], np.float32) for k in _MOTION_KEYS}
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(partial, audio=pcm, format=np.array(CLIP_FORMAT), meta=np.array(json.dumps(meta)), **arrays)
    partial.replace(path)
    return path


def load_clip(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a clip file (and ``meta`` as a dict under ``"meta"``)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise TrainingDataError(f"{path.name}: not a readable clip file ({exc})") from exc
    if str(arrays.get("format")) != CLIP_FORMAT:
        raise TrainingDataError(f"{path.name}: not a {CLIP_FORMAT} clip")
    arrays["meta"] = json.loads(str(arrays["meta"]))
    return arrays


def raw_motion(clip: dict[str, np.ndarray]) -> np.ndarray:
    """(n, 70) [exp 63, scale, tx, ty, tz, pitch, yaw, roll], the layout the generator predicts."""
    n = len(clip["exp"])
    return np.concatenate([clip["exp"].reshape(n, EXP_DIM), clip["scale"], clip["t"], clip["pitch"], clip["yaw"],
                           clip["roll"]], axis=1).astype(np.float32)


def template_stats(clips: Iterable[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The official 45-key template over every frame of ``clips``: mean, std, max, min and abs_max of scale, R
    (9), t, exp (63), pitch, yaw, roll, lip and eyes (over all clips; NaN ratios, i.e. frames without
    landmarks, left out)."""
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("scale", "R", "t", "exp", "pitch", "yaw", "roll",
                                                            "lip", "eyes")}
    for clip in clips:
        n = len(clip["exp"])
        angles = [torch.from_numpy(np.ascontiguousarray(clip[k])) for k in ("pitch", "yaw", "roll")]
        columns["R"].append(get_rotation_matrix(*angles).numpy().reshape(n, 9))
        columns["exp"].append(clip["exp"].reshape(n, EXP_DIM))
        columns["lip"].append(clip["lip_ratio"])
        columns["eyes"].append(clip["eye_ratio"])
        for key in ("scale", "t", "pitch", "yaw", "roll"):
            columns[key].append(clip[key])
    stats = {}
    for key, parts in columns.items():
        values = np.concatenate(parts).astype(np.float64)
        with warnings.catch_warnings():  # ratios are all NaN where no clip had landmarks: NaN statistics
            warnings.simplefilter("ignore", RuntimeWarning)
            for name, fn in (("mean", np.nanmean), ("std", np.nanstd), ("max", np.nanmax), ("min", np.nanmin)):
                stats[f"{name}_{key}"] = fn(values, axis=0).astype(np.float32)
            stats[f"abs_max_{key}"] = np.nanmax(np.abs(values), axis=0).astype(np.float32)
    return stats


def split_names(names: list[str], test_share: float = 0.2) -> dict[str, list[str]]:
    """Sorted names, the first 80 % for training and the rest for testing (as the official ``02_gen_labels``);
    at least one of each when there are two or more."""
    names = sorted(names)
    n_test = min(max(round(len(names) * test_share), 1 if len(names) > 1 else 0), len(names) - 1)
    cut = len(names) - n_test
    return {"train": names[:cut], "test": names[cut:]}


def write_index(data: Path) -> dict[str, list[str]]:
    """Write the template and the split of every clip in ``data/clips``; return the split."""
    paths = sorted((data / CLIPS_DIR).glob("*.npz"))
    paths = [p for p in paths if not p.name.endswith(".partial.npz")]
    if not paths:
        raise TrainingDataError(f"no clips in {data / CLIPS_DIR}: nothing to train on")
    save_motion_template(template_stats(load_clip(p) for p in paths), data / TEMPLATE_FILE)
    split = split_names([p.stem for p in paths])
    (data / SPLIT_FILE).write_text(json.dumps(split, indent=1))
    return split


@dataclass
class ClipDataset:
    """Training items from a prepared folder: ``(audio pair, motion pair)``, each two float32 tensors, audio
    (2L * 640 / 2 = 64000,) per clip and motion (L, 70) normalised with the folder's template."""

    data: Path
    split: str = "train"
    n_motions: int = 100

    def __post_init__(self) -> None:
        self.data = Path(self.data)
        split_file = self.data / SPLIT_FILE
        if not split_file.is_file():
            raise TrainingDataError(f"{self.data}: no {SPLIT_FILE}; run `python -m model.train prepare` first")
        names = json.loads(split_file.read_text())[self.split]
        if not names:
            raise TrainingDataError(f"{self.data}: the {self.split} split is empty")
        self.template: MotionTemplate = load_motion_template(self.data / TEMPLATE_FILE)
        self.clips = [load_clip(self.data / CLIPS_DIR / f"{name}.npz") for name in names]
        self.names = names

    def __len__(self) -> int:
        return len(self.clips)

    def item(self, index: int, rng: np.random.Generator) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        """Item ``index`` with a random start drawn from ``rng``."""
        clip = self.clips[index]
        motion, audio = self.template.normalise(raw_motion(clip)), clip["audio"]
        span = 2 * self.n_motions
        repeats = 1
        while len(motion) * repeats <= span + 2:
            repeats *= 2
        if repeats > 1:  # a short clip, repeated (long ones are only sliced)
            motion, audio = np.tile(motion, (repeats, 1)), np.tile(audio, repeats)
        start = int(rng.integers(0, len(motion) - span))
        window = motion[start : start + span]
        sound = audio[start * AUDIO_UNIT : (start + span) * AUDIO_UNIT]
        half = self.n_motions * AUDIO_UNIT
        return ((torch.from_numpy(sound[:half].copy()), torch.from_numpy(sound[half:].copy())),
                (torch.from_numpy(window[: self.n_motions].copy()), torch.from_numpy(window[self.n_motions :].copy())))

    def batch(self, indices: list[int], rng: np.random.Generator) -> tuple[tuple[torch.Tensor, torch.Tensor],
                                                                           tuple[torch.Tensor, torch.Tensor]]:
        """Items ``indices`` stacked: audio two (B, 64000), motion two (B, L, 70)."""
        items = [self.item(i, rng) for i in indices]
        audio = tuple(torch.stack([it[0][c] for it in items]) for c in range(2))
        motion = tuple(torch.stack([it[1][c] for it in items]) for c in range(2))
        return (audio[0], audio[1]), (motion[0], motion[1])
