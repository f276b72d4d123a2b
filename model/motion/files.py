"""Motion files: a run's decoded motion, saved to drive other images later (never a pickle).

A file holds, per frame, the expression (n, 21, 3), pitch / yaw / roll in degrees, scale and translation (n, 3),
plus the frame rate, the audio it was made for (its 16 kHz sample count and the sha256 of those samples) and the
settings that made it (JSON). ``.npz`` (numpy, read with ``allow_pickle=False``) or ``.safetensors`` (metadata in
the header), chosen by the file name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.motion.sequence import MotionSequence, pose_sequence

FORMAT = "joyvasa-motion-1"
SUFFIXES = (".npz", ".safetensors")
#: Longest accepted motion: 10 minutes at 25 fps, with room for other rates.
MAX_FRAMES = 60_000


class MotionFileError(ValueError):
    """A motion file that cannot be used: unreadable, a pickle, the wrong shapes, or made for other audio."""


def audio_fingerprint(samples: np.ndarray) -> str:
    """sha256 of the (N,) 16 kHz float32 samples, as the motion generator saw them."""
    return hashlib.sha256(np.ascontiguousarray(samples, dtype=np.float32).tobytes()).hexdigest()


@dataclass(frozen=True)
class SavedMotion:
    """A motion file's content: the motion, the audio it was made for (sample count, fingerprint), settings."""

    motion: MotionSequence
    n_samples: int
    audio_sha256: str
    settings: dict

    def check_audio(self, samples: np.ndarray, force: bool = False) -> None:
        """Refuse other audio than the motion was made for (unless ``force``): a clear MotionFileError."""
        if force or (len(samples) == self.n_samples and audio_fingerprint(samples) == self.audio_sha256):
            return
        raise MotionFileError(
            f"the motion file was made for another audio ({self.n_samples / 16000:.2f} s, fingerprint "
            f"{self.audio_sha256[:12]}); this audio lasts {len(samples) / 16000:.2f} s. Give the audio it was made "
            "for, or force its use (--force) to drive this audio's length with it."
        )


def _arrays(motion: MotionSequence) -> dict[str, np.ndarray]:
    return {
        "exp": motion.exp, "pitch": motion.pitch[:, 0], "yaw": motion.yaw[:, 0], "roll": motion.roll[:, 0],
        "scale": motion.scale[:, 0], "t": motion.t,
    }


def save_motion(path: str | Path, motion: MotionSequence, samples: np.ndarray, settings: dict) -> Path:
    """Write ``motion`` (made for the 16 kHz ``samples``) and its ``settings`` to ``path`` (.npz or .safetensors)."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise MotionFileError(f"{path.name}: a motion file ends in {' or '.join(SUFFIXES)}")
    meta = {"format": FORMAT, "fps": repr(float(motion.fps)), "n_samples": str(len(samples)),
            "audio_sha256": audio_fingerprint(samples), "settings": json.dumps(settings, sort_keys=True)}
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in _arrays(motion).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    if path.suffix == ".safetensors":
        from safetensors.numpy import save_file

        save_file(arrays, str(tmp), metadata=meta)
    else:
        with tmp.open("wb") as f:
            np.savez(f, **arrays, **{f"meta_{k}": np.array(v) for k, v in meta.items()})
    tmp.replace(path)
    return path


def load_motion(path: str | Path) -> SavedMotion:
    """Read and check a motion file (shapes, finite values, format); :class:`MotionFileError` otherwise."""
    path = Path(path)
    name = path.name
    if path.suffix not in SUFFIXES:
        raise MotionFileError(f"{name}: a motion file ends in {' or '.join(SUFFIXES)} (pickles are never read)")
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                arrays = {k: f.get_tensor(k) for k in f.keys()}
        else:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files if not k.startswith("meta_")}
                meta = {k[5:]: str(data[k]) for k in data.files if k.startswith("meta_")}
    except Exception as exc:  # a damaged or foreign file fails in many ways (zip, header, keys); all mean "unreadable"
        raise MotionFileError(f"{name}: not a readable motion file ({type(exc).__name__.lower()}); save one "
                              "with --save-motion") from exc
    if meta.get("format") != FORMAT:
        raise MotionFileError(f"{name}: not a motion file of this project (format {meta.get('format')!r})")
    return SavedMotion(_motion_from(arrays, meta, name), int(meta["n_samples"]), meta["audio_sha256"],
                       json.loads(meta.get("settings", "{}")))


def _motion_from(arrays: dict[str, np.ndarray], meta: dict[str, str], name: str) -> MotionSequence:
    exp = arrays.get("exp")
    if exp is None or exp.ndim != 3 or exp.shape[1:] != (21, 3) or not 1 <= len(exp) <= MAX_FRAMES:
        raise MotionFileError(f"{name}: expected an expression array of shape (frames, 21, 3), got "
                              f"{None if exp is None else tuple(exp.shape)}")
    n = len(exp)
    expected = {"pitch": (n,), "yaw": (n,), "roll": (n,), "scale": (n,), "t": (n, 3)}
    for key, shape in expected.items():
        if key not in arrays or arrays[key].shape != shape:
            found = tuple(arrays[key].shape) if key in arrays else "nothing"
            raise MotionFileError(f"{name}: expected {key} of shape {shape}, got {found}")
    if not all(np.isfinite(a).all() for a in arrays.values()):
        raise MotionFileError(f"{name}: the motion holds NaN or infinite values")
    fps = float(meta.get("fps", "nan"))
    if not 1 <= fps <= 120:
        raise MotionFileError(f"{name}: frame rate {fps} is not usable")
    pose = np.stack([arrays["scale"], *arrays["t"].T, arrays["pitch"], arrays["yaw"], arrays["roll"]], axis=1)
    return pose_sequence(exp.astype(np.float32), pose.astype(np.float32), fps)
