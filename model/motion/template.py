"""The motion template: per-dimension statistics that undo the motion normalisation (spec §4.2).

The official ``motion_template.pkl`` is a pickled ``dict`` of float32 numpy arrays written by
numpy < 2 (its arrays name ``numpy.core.multiarray._reconstruct``). It is read here with a
restricted unpickler that can rebuild numpy arrays and nothing else, so a tampered file cannot
run code. Two releases exist: 35 keys (v1) and 45 keys (v2, adds lip/eye statistics); decoding
needs only ``mean_exp``, ``std_exp`` and the min/max of scale, translation and the three angles.
"""

from __future__ import annotations

import codecs
import collections
import io
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy._core.multiarray import _reconstruct
from numpy._core.multiarray import scalar as _scalar
from numpy._core.numeric import _frombuffer

#: Pose quantities in the order of motion dims 63..69, with their sizes: [scale, tx, ty, tz, pitch, yaw, roll].
POSE_FIELDS = (("scale", 1), ("t", 3), ("pitch", 1), ("yaw", 1), ("roll", 1))
#: Size of the flattened expression offsets (21 keypoints x 3), motion dims 0..62.
EXP_DIM = 63

# Everything a pickled dict of numpy arrays can name, under numpy < 2 and numpy >= 2 module paths:
# the array reconstructor (protocols <= 4), the buffer constructor (protocol 5), ndarray, dtype,
# the latin-1 bytes encoder (protocol <= 2) and an ordered dict as the container.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
}


class TemplateError(ValueError):
    """A motion template file is unreadable, unsafe, or lacks the statistics decoding needs."""


class _ForbiddenGlobal(pickle.UnpicklingError):
    """The pickle names something other than what numpy arrays need."""


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals in ``_ALLOWED_GLOBALS``."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _ForbiddenGlobal(
                f"global '{module}.{name}' is not allowed (a motion template holds only numpy arrays)"
            ) from None


class _Numpy1Pickler(pickle._Pickler):
    """Pickler that names numpy's array reconstructor by its numpy < 2 path, as the official file does.

    Under numpy 2 the reconstructor lives in ``numpy._core``; a file naming that path would not load
    under numpy < 2, and would not exercise the legacy path the official file takes. The C pickler
    cannot rename a global, so this uses the pure-Python one (the file is a few kB).
    """

    def save_global(self, obj: object, name: str | None = None) -> None:
        if obj is not _reconstruct:
            super().save_global(obj, name)
            return
        self.save("numpy.core.multiarray")
        self.save("_reconstruct")
        self.write(pickle.STACK_GLOBAL)
        self.memoize(obj)


def load_array_pickle(data: bytes) -> object:
    """Unpickle ``data`` that may hold only containers, numbers, strings and numpy arrays (the official data
    files); anything else raises ``pickle.UnpicklingError`` naming it."""
    return _ArrayOnlyUnpickler(io.BytesIO(data)).load()


def read_template_stats(path: str | Path) -> dict[str, np.ndarray]:
    """Every statistic in a template pickle, as float32 arrays keyed by name (e.g. ``'mean_exp'``).

    Raises :class:`TemplateError` when the file is missing, is not a pickle, names anything but
    numpy arrays, or is not a mapping of names to numeric arrays.
    """
    path = Path(path)
    if not path.is_file():
        raise TemplateError(f"{path}: motion template not found")
    try:
        obj = load_array_pickle(path.read_bytes())
    except _ForbiddenGlobal as exc:
        raise TemplateError(
            f"{path}: refused to unpickle ({exc}); re-download the official motion_template.pkl"
        ) from exc
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise TemplateError(f"{path}: not a readable motion template pickle ({exc})") from exc
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) for k in obj):
        raise TemplateError(f"{path}: expected a dict of named arrays, got {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not (isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.number))]
    if bad:
        raise TemplateError(f"{path}: entries that are not numeric arrays: {bad[:5]}")
    return {k: np.asarray(v, dtype=np.float32) for k, v in obj.items()}


def save_motion_template(stats: Mapping[str, np.ndarray], path: str | Path) -> None:
    """Write ``stats`` as the official file is written: a protocol-4 pickle of float32 arrays, numpy < 2 paths."""
    arrays = {str(k): np.ascontiguousarray(v, dtype=np.float32) for k, v in stats.items()}
    buffer = io.BytesIO()
    _Numpy1Pickler(buffer, protocol=4).dump(arrays)
    Path(path).write_bytes(buffer.getvalue())


@dataclass(frozen=True)
class MotionTemplate:
    """The statistics decoding reads (float32).

    mean_exp, std_exp: (63,) z-score of the expression offsets;
    pose_min, pose_max: (7,) min-max range of [scale, tx, ty, tz, pitch, yaw, roll] (angles in degrees).
    """

    mean_exp: np.ndarray
    std_exp: np.ndarray
    pose_min: np.ndarray
    pose_max: np.ndarray

    @classmethod
    def from_stats(cls, stats: Mapping[str, np.ndarray], source: str = "motion template") -> MotionTemplate:
        """Pick and check the decoding statistics from a full template dict."""
        sizes = {"mean_exp": EXP_DIM, "std_exp": EXP_DIM}
        sizes.update({f"{bound}_{name}": size for name, size in POSE_FIELDS for bound in ("min", "max")})
        missing = [k for k in sizes if k not in stats]
        if missing:
            raise TemplateError(f"{source}: missing statistics {missing}")
        wrong = {k: np.shape(stats[k]) for k, n in sizes.items() if np.size(stats[k]) != n}
        if wrong:
            raise TemplateError(f"{source}: unexpected sizes {wrong} (expected {sizes})")

        def flat(key: str) -> np.ndarray:
            return np.asarray(stats[key], dtype=np.float32).reshape(-1)

        return cls(
            mean_exp=flat("mean_exp"),
            std_exp=flat("std_exp"),
            pose_min=np.concatenate([flat(f"min_{name}") for name, _ in POSE_FIELDS]),
            pose_max=np.concatenate([flat(f"max_{name}") for name, _ in POSE_FIELDS]),
        )


    def normalise(self, raw: np.ndarray) -> np.ndarray:
        """Raw motion (n, 70) [exp 63, scale, tx, ty, tz, pitch, yaw, roll] -> the generator's coefficients, as
        the official dataset does (z-score and min-max, each with a 1e-9 guard); decoding is the inverse."""
        raw = np.asarray(raw, np.float32)
        exp = (raw[:, :EXP_DIM] - self.mean_exp) / (self.std_exp + np.float32(1e-9))
        span = self.pose_max - self.pose_min + np.float32(1e-9)
        return np.concatenate([exp, (raw[:, EXP_DIM:] - self.pose_min) / span], axis=1).astype(np.float32)


def load_motion_template(path: str | Path) -> MotionTemplate:
    """Read an official (35- or 45-key) motion template pickle safely; see :func:`read_template_stats`."""
    return MotionTemplate.from_stats(read_template_stats(path), source=str(path))
