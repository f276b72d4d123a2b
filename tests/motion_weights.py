"""Recipe-weighted motion generators for golden tests, built once per test session.

The weights go through the production path: recipe state dict -> ``save_motion_generator``
(official pickle, legacy weight-norm names) -> ``load_motion_generator`` (``weights_only=True``).
A full-size generator costs a few seconds (numpy-bound recipe, 0.5 GB file), so the loaded model
is cached per (manifest, seed); callers pick the positional encoding per use.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from model.motion.checkpoint import load_motion_generator, save_motion_generator
from model.motion.denoiser import PositionalEncodingMode
from model.motion.generator import MotionGenerator, MotionGeneratorConfig
from model.testweights.fill import recipe_state_dict

_WORK_DIR = Path(tempfile.mkdtemp(prefix="joyvasa-motion-weights-"))
atexit.register(shutil.rmtree, _WORK_DIR, ignore_errors=True)


def positional_encoding_of(meta: dict[str, Any]) -> PositionalEncodingMode:
    """The PE flavour a golden file was made with: ``"legacy"`` when its meta says pre-fix, else HEAD's."""
    return "legacy" if "pre-fix" in str(meta.get("positional_encoding", "")) else "fixed"


def write_recipe_checkpoint(manifest: dict[str, Any], seed: int, path: Path) -> Path:
    """An official-format checkpoint holding ``recipe.state_dict(manifest, seed)`` for the manifest's args."""
    with torch.device("meta"):  # only the key names and shapes are needed
        skeleton = MotionGenerator(MotionGeneratorConfig.from_args(manifest["args"]))
    state = recipe_state_dict(skeleton, seed, computed=manifest["computed_entries"])
    return save_motion_generator(state, manifest["args"], path)


@functools.cache
def _cached(manifest_json: str, seed: int) -> MotionGenerator:
    manifest = json.loads(manifest_json)
    path = write_recipe_checkpoint(manifest, seed, _WORK_DIR / f"motion_generator_{seed}.pt")
    model = load_motion_generator(path)
    path.unlink()
    return model


def recipe_motion_generator(
    manifest: dict[str, Any], seed: int, positional_encoding: PositionalEncodingMode = "legacy"
) -> MotionGenerator:
    """The shared recipe generator (eval mode, CPU) with the given PE and the default fast path."""
    model = _cached(json.dumps(manifest, sort_keys=True), seed)
    model.denoising_net.positional_encoding = positional_encoding
    model.denoising_net.affine_cross_attention = True
    return model
