"""Importing data prepared by the official scripts (``src/prepare_data``): ``motions.pkl``, ``train.json``,
``test.json`` and the audio files they name, into this project's data folder (:mod:`model.train.data`).

Every pickle goes through a restricted unpickler (containers, numbers, strings, numpy arrays: nothing that can
run code). The official lists name audio by absolute paths of the machine that made them; ``audio_root``, when
given, is searched by file name instead. The template is recomputed over all clips (the official one takes its
eye and lip statistics from the last clip only).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from model.audio.decode import load_audio
from model.motion.template import load_array_pickle
from model.train.data import CLIPS_DIR, FPS, SPLIT_FILE, TrainingDataError, save_clip, write_index

_PER_FRAME = {"exp": (21, 3), "scale": (1,), "t": (3,), "pitch": (1,), "yaw": (1,), "roll": (1,)}


def _read_pickle(path: Path) -> object:
    try:
        return load_array_pickle(path.read_bytes())
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise TrainingDataError(f"{path.name}: refused or unreadable pickle ({exc})") from exc


def _clip_arrays(entry: object, name: str) -> dict[str, np.ndarray]:
    """One official per-video motion dict -> this project's per-frame arrays."""
    if not isinstance(entry, dict) or not isinstance(entry.get("motion"), list) or not entry["motion"]:
        raise TrainingDataError(f"{name}: not an official motion entry (a dict with a 'motion' list)")
    if float(entry.get("output_fps", FPS)) != FPS:
        raise TrainingDataError(f"{name}: made at {entry['output_fps']} fps; the generator is trained at {FPS}")
    frames = entry["motion"]
    arrays = {k: np.stack([np.asarray(f[k], np.float32).reshape(shape) for f in frames])
              for k, shape in _PER_FRAME.items()}
    n = len(frames)
    eyes = entry.get("c_eyes_lst") or [np.full((1, 2), np.nan)] * n
    lips = entry.get("c_lip_lst") or [np.full((1, 1), np.nan)] * n
    arrays["eye_ratio"] = np.stack([np.asarray(e, np.float32).reshape(2) for e in eyes])
    arrays["lip_ratio"] = np.stack([np.asarray(c, np.float32).reshape(1) for c in lips])
    return arrays


def import_official(source: Path, out: Path, audio_root: Path | None = None) -> dict[str, list[str]]:
    """Convert the official files in ``source`` into the data folder ``out``; returns its split."""
    source, out = Path(source), Path(out)
    motions = _read_pickle(source / "motions.pkl")
    if not isinstance(motions, dict):
        raise TrainingDataError("motions.pkl: expected a dict from audio paths to motion entries")
    (out / CLIPS_DIR).mkdir(parents=True, exist_ok=True)
    split: dict[str, list[str]] = {}
    for part in ("train", "test"):
        entries = json.loads((source / f"{part}.json").read_text())
        split[part] = []
        for entry in entries:
            audio_name = str(entry["audio_name"])
            audio_path = (audio_root / Path(audio_name).name) if audio_root is not None else Path(audio_name)
            name = Path(audio_name).stem
            arrays = _clip_arrays(motions.get(audio_name), name)
            save_clip(out / CLIPS_DIR / f"{name}.npz", arrays, load_audio(audio_path),
                      {"video": Path(str(entry.get("video_name", name))).name, "fps": FPS,
                       "imported_from": "official prepare_data"})
            split[part].append(name)
    write_index(out)  # the template over all clips (and a fresh split, replaced by the official one below)
    (out / SPLIT_FILE).write_text(json.dumps(split, indent=1))
    return split
