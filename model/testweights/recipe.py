"""Deterministic weights and inputs for tests (the golden-data recipe), numpy only.

Every value comes from numpy's legacy ``RandomState`` (Mersenne Twister, polar Box-Muller
normals), which numpy keeps stable across versions, computed in float64 and cast once to
float32. One fresh generator per named tensor, seeded from the tensor's name, so a tensor's
value never depends on which other tensors were drawn before it.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping

import numpy as np

Shape = tuple[int, ...]


def stream_seed(name: str, seed: int) -> int:
    """``(seed * 1000003 + crc32(utf8(name))) mod 2**32`` on Python integers."""
    return (int(seed) * 1000003 + zlib.crc32(name.encode("utf-8"))) % (1 << 32)


def stream(name: str, seed: int) -> np.random.RandomState:
    return np.random.RandomState(stream_seed(name, seed))


def tensor(name: str, shape: Iterable[int], seed: int, kind: str = "normal") -> np.ndarray:
    """One float32 tensor drawn from the stream of ``name``.

    kinds: normal z; uniform u in [0, 1); fan_in z / sqrt(prod(shape[1:])); bias 0.02 z;
    affine 1 + 0.1 z; mean 0.1 z; var 0.5 + u.
    """
    shape = tuple(int(s) for s in shape)
    rs = stream(name, seed)
    if kind in ("uniform", "var"):
        u = rs.random_sample(size=shape).astype(np.float64)
        x = u if kind == "uniform" else 0.5 + u
    else:
        z = rs.standard_normal(size=shape).astype(np.float64)
        if kind == "normal":
            x = z
        elif kind == "fan_in":
            x = z / math.sqrt(math.prod(shape[1:]) if len(shape) >= 2 else 1)
        elif kind == "bias":
            x = 0.02 * z
        elif kind == "affine":
            x = 1.0 + 0.1 * z
        elif kind == "mean":
            x = 0.1 * z
        else:
            raise ValueError(f"unknown recipe kind {kind!r}")
    return np.asarray(x, dtype=np.float64).astype(np.float32)


def noise(shape: Iterable[int], seed: int) -> np.ndarray:
    """Standard normal float32 noise: the stream named ``noise``."""
    return tensor("noise", shape, seed, "normal")


def key_kind(key: str, shape: Shape) -> str:
    """Which rule fills a state-dict entry, decided by the key's last component and ndim."""
    last = key.rsplit(".", 1)[-1]
    if last == "num_batches_tracked":
        return "zero_int64"
    if last == "running_mean":
        return "mean"
    if last == "running_var":
        return "var"
    if "bias" in last:
        return "bias"
    if last in ("weight_u", "weight_v"):
        return "spectral"
    if last == "weight" and len(shape) == 1:
        return "affine"
    if len(shape) >= 2 and (last == "weight" or last.endswith("_weight") or last == "weight_orig"):
        return "fan_in"
    return "normal"


def _spectral_vectors(weight_orig: np.ndarray, u_name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One float64 power-iteration step from a recipe start vector: the stored (u, v)."""
    w = weight_orig.astype(np.float64).reshape(weight_orig.shape[0], -1)
    u0 = stream(u_name, seed).standard_normal(size=(w.shape[0],)).astype(np.float64)
    v = w.T @ u0
    v = v / np.linalg.norm(v)
    u = w @ v
    u = u / np.linalg.norm(u)
    return u.astype(np.float32), v.astype(np.float32)


def state_dict(entries: Mapping[str, Shape], seed: int) -> dict[str, np.ndarray]:
    """Fill a state dict given ``{key: shape}`` (in state-dict order) for every generated key.

    Keys the module computes itself (sinusoidal tables, masks, schedules) must be left out
    by the caller. Spectral-norm ``weight_u``/``weight_v`` are derived from the matching
    ``weight_orig`` (which must be among the entries).
    """
    out: dict[str, np.ndarray] = {}
    spectral: list[str] = []
    for key, shape in entries.items():
        shape = tuple(int(s) for s in shape)
        kind = key_kind(key, shape)
        if kind == "zero_int64":
            out[key] = np.zeros(shape, dtype=np.int64)
        elif kind == "spectral":
            out[key] = np.empty(0)  # placeholder keeps the order; filled below
            spectral.append(key)
        else:
            out[key] = tensor(key, shape, seed, kind)
    vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for key in spectral:
        prefix = key[: -len("weight_u")]
        if prefix not in vectors:
            vectors[prefix] = _spectral_vectors(out[prefix + "weight_orig"], prefix + "weight_u", seed)
        u, v = vectors[prefix]
        out[key] = u if key.endswith("weight_u") else v
    return out


def image(shape: Iterable[int], seed: int) -> np.ndarray:
    """Smooth float32 planes in [0, 1]; the last two dims are (H, W).

    Per plane: six random sinusoids plus 0.1 N(0, 1) noise, squashed by 0.5 + 0.5 tanh(0.7 x).
    """
    shape = tuple(int(s) for s in shape)
    h, w = shape[-2:]
    rs = stream("image", seed)
    y = ((np.arange(h, dtype=np.float64) + 0.5) / h)[:, None]
    x = ((np.arange(w, dtype=np.float64) + 0.5) / w)[None, :]
    planes = np.empty((math.prod(shape[:-2]), h, w), dtype=np.float64)
    for p in range(planes.shape[0]):
        acc = np.zeros((h, w), dtype=np.float64)
        for _ in range(6):
            fy, fx = rs.uniform(-4.0, 4.0, size=2)
            phase = rs.uniform(0.0, 2.0 * math.pi)
            amp = rs.uniform(0.2, 1.0)
            acc += amp * np.sin(2.0 * math.pi * (fy * y + fx * x) + phase)
        acc += 0.1 * rs.standard_normal(size=(h, w))
        planes[p] = 0.5 + 0.5 * np.tanh(0.7 * acc)
    return planes.reshape(shape).astype(np.float32)


def image_u8(h: int, w: int, seed: int) -> np.ndarray:
    """(h, w, 3) uint8 RGB picture: ``round(image((3, h, w)) * 255)``, HWC."""
    planes = image((3, h, w), seed).astype(np.float64)
    return np.clip(np.round(planes * 255.0), 0, 255).astype(np.uint8).transpose(1, 2, 0).copy()


def audio(n_samples: int, seed: int, sr: int = 16000) -> np.ndarray:
    """Speech-like float32 mono signal (harmonics of a wandering f0 under a syllable envelope), peak 0.5."""
    n = int(n_samples)
    rs = stream("audio", seed)
    t = np.arange(n, dtype=np.float64) / sr
    f0_base = rs.uniform(100.0, 220.0)
    p1, p2, p3 = rs.uniform(0.0, 2.0 * math.pi, size=3)
    f0 = f0_base * (1.0 + 0.15 * np.sin(2 * math.pi * 0.9 * t + p1) + 0.05 * np.sin(2 * math.pi * 3.1 * t + p2))
    phase = 2.0 * math.pi * np.cumsum(f0) / sr
    amps = rs.uniform(0.2, 1.0, size=12) / np.arange(1, 13, dtype=np.float64)
    harmonic_phases = rs.uniform(0.0, 2.0 * math.pi, size=12)
    voiced = np.zeros(n, dtype=np.float64)
    for k in range(12):
        voiced += amps[k] * np.sin((k + 1) * phase + harmonic_phases[k])
    envelope = (0.5 + 0.5 * np.sin(2 * math.pi * 3.7 * t + p3)) ** 2 * (0.6 + 0.4 * np.sin(2 * math.pi * 0.31 * t))
    x = voiced * envelope + 0.02 * rs.standard_normal(size=n)
    x = 0.5 * x / np.max(np.abs(x))
    return x.astype(np.float32)
