"""Access to golden reference files: the directory, the arrays, the meta, the comparisons.

The directory is ``$GOLDEN_DIR`` when set, else the copy in ``tests/fixtures/golden``. Every
seed, shape, config and flag a test needs comes from the file's ``meta_json`` or from the
manifest it names, never from constants in the tests: other golden sets use other values.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "golden"


_LINK = re.compile(r"^(?P<file>[\w.-]+\.npz)\['(?P<key>\w+)'\]")


def golden_dir() -> Path:
    return Path(os.environ.get("GOLDEN_DIR") or FIXTURE_DIR)


@dataclass
class GoldenCase:
    """One golden ``.npz``: arrays (float16 keys returned as float32) and the parsed meta."""

    path: Path
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    def __contains__(self, key: str) -> bool:
        return key in self.arrays

    @property
    def float16_keys(self) -> set[str]:
        return set(self.meta.get("float16_keys", []))

    @property
    def weights_seed(self) -> int:
        return int(self.meta["weights_seed"])

    def linked_input(self, name: str) -> np.ndarray:
        """An input this case does not store but names in another file of its folder.

        E.g. case c's meta says ``"feature_3d": "a_appearance_feature_extractor.npz['feature_3d'] ..."``.
        """
        description = self.meta["inputs"][name]
        match = _LINK.match(description)
        assert match, f"{self.path.name}: input {name!r} is not a link to another file: {description!r}"
        return load_case(str(self.path.parent.relative_to(golden_dir()) / match["file"]))[match["key"]]

    def manifest(self, name: str | None = None) -> dict[str, Any]:
        """The manifest this case names (``meta['manifest']``, or ``meta['manifests'][name]``)."""
        rel = self.meta["manifest"] if name is None else self.meta["manifests"][name]
        return load_manifest(rel)

    def assert_close(self, key: str, actual, *, rtol: float = 1e-4, atol: float = 5e-5) -> None:
        """Compare with the stored value; float16-stored keys use the README's float16 rule."""
        actual = np.asarray(actual.detach().cpu() if hasattr(actual, "detach") else actual, dtype=np.float64)
        ref = self.arrays[key].astype(np.float64)
        assert actual.shape == ref.shape, f"{self.path.name}:{key}: shape {actual.shape} != {ref.shape}"
        if key in self.float16_keys:
            err = np.abs(actual - ref) - 1e-3 * np.maximum(1.0, np.abs(ref))
            assert err.max() <= 0, f"{self.path.name}:{key}: float16 tolerance exceeded by {err.max():.3g}"
            return
        diff = np.abs(actual - ref)
        bound = atol + rtol * np.abs(ref)
        worst = np.argmax(diff - bound)
        assert np.all(diff <= bound), (
            f"{self.path.name}:{key}: max abs err {diff.max():.3g} (max rel {max_rel_err(actual, ref):.3g}); "
            f"worst at {np.unravel_index(worst, ref.shape)}: {actual.flat[worst]!r} vs {ref.flat[worst]!r}"
        )

    def assert_uint8_close(self, key: str, actual, *, float_key: str | None = None, float_atol: float = 1e-4) -> None:
        """uint8 frames: every value within 1 level, at most 0.1% of values differing.

        With ``float_key`` (the reference's float image in [0, 1], (N, 3, H, W), that the frames
        truncate), more flips are accepted only where they are explained by float rounding: each
        differing value's reference float must lie within ``float_atol`` (the float comparison's
        tolerance) of a quantisation boundary. A real error flips values far from boundaries.
        """
        actual = np.asarray(actual).astype(np.int16)
        ref = self.arrays[key].astype(np.int16)
        assert actual.shape == ref.shape, f"{self.path.name}:{key}: shape {actual.shape} != {ref.shape}"
        diff = np.abs(actual - ref)
        assert diff.max() <= 1, f"{self.path.name}:{key}: max level difference {diff.max()}"
        frac = np.count_nonzero(diff) / diff.size
        if frac <= 1e-3:
            return
        assert float_key is not None, f"{self.path.name}:{key}: {frac:.4%} of values differ"
        levels = np.clip(self.arrays[float_key].astype(np.float64), 0, 1).transpose(0, 2, 3, 1) * 255
        distance = np.abs(levels - np.round(levels))
        unexplained = np.count_nonzero((diff != 0) & (distance > 255 * float_atol))
        assert unexplained == 0, (
            f"{self.path.name}:{key}: {frac:.4%} of values differ, {unexplained} of them away from a level boundary"
        )


def max_rel_err(actual: np.ndarray, ref: np.ndarray) -> float:
    """max |a - r| / max |r|: the relative error figure quoted in closing notes."""
    return float(np.abs(np.asarray(actual, np.float64) - ref).max() / max(np.abs(ref).max(), 1e-12))


def load_case(name: str) -> GoldenCase:
    """Load ``<golden dir>/<name>`` (e.g. ``'a_appearance_feature_extractor.npz'`` or ``'small/g_render.npz'``)."""
    path = golden_dir() / name
    if not path.is_file():
        pytest.skip(f"golden file {path} not present")
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta_json"]))
        f16 = set(meta.get("float16_keys", []))
        arrays = {k: (z[k].astype(np.float32) if k in f16 else z[k]) for k in z.files if k != "meta_json"}
    return GoldenCase(path=path, arrays=arrays, meta=meta)


def load_manifest(relative: str) -> dict[str, Any]:
    """A manifest named relative to ``manifests/``, from the golden dir (fixture copy as fallback)."""
    for base in (golden_dir(), FIXTURE_DIR):
        path = base / "manifests" / relative
        if path.is_file():
            return json.loads(path.read_text())
    raise FileNotFoundError(f"manifest {relative} not found under {golden_dir()}/manifests")
