"""Shared motion-stage test material: a tiny real generator, template statistics, golden template checks."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from transformers import HubertConfig

from model.motion.checkpoint import COMPUTED_KEYS
from model.motion.generator import MotionGenerator, MotionGeneratorConfig
from model.motion.sequence import MotionSequence
from model.motion.template import MotionTemplate, load_motion_template, save_motion_template
from tests.golden import GoldenCase
from tests.helpers import with_recipe_weights

#: A small HuBERT / wav2vec2 config (fields shared by both architectures) for encoder-level tests.
SMALL_ENCODER_FIELDS = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": (16,) * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
}
TINY_ENCODER = HubertConfig(
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=32,
    conv_dim=(8,) * 7,
    num_conv_pos_embeddings=8,
    num_conv_pos_embedding_groups=2,
)


@functools.cache
def tiny_generator(n_diff_steps: int = 50, motion_feat_dim: int = 5, n_motions: int = 6) -> MotionGenerator:
    """Eval-mode generator with P = 2, d = 16, 25 fps; shared between tests, so do not modify it."""
    config = MotionGeneratorConfig(
        motion_feat_dim=motion_feat_dim, n_motions=n_motions, n_prev_motions=2, feature_dim=16,
        audio_model="hubert_zh", n_diff_steps=n_diff_steps,
    )
    return with_recipe_weights(MotionGenerator(config, TINY_ENCODER), seed=0, computed=COMPUTED_KEYS)


QUANTITIES = {"scale": 1, "R": 9, "t": 3, "exp": 63, "pitch": 1, "yaw": 1, "roll": 1, "lip": 1, "eyes": 2}


def template_stats(with_lip_and_eyes: bool = True, seed: int = 0) -> dict[str, np.ndarray]:
    """A 45-key (v2) or 35-key (v1) template with plausible float32 values."""
    rng = np.random.default_rng(seed)
    stats = {}
    for name, size in QUANTITIES.items():
        if name in ("lip", "eyes") and not with_lip_and_eyes:
            continue
        low = rng.uniform(-1.0, 0.0, size).astype(np.float32)
        stats.update({f"mean_{name}": low + 0.5, f"std_{name}": np.abs(low) + 0.1, f"min_{name}": low,
                      f"max_{name}": low + 1.5, f"abs_max_{name}": np.abs(low) + 1.5})
    return stats


def golden_template(case: GoldenCase, folder: Path) -> MotionTemplate:
    """The case's ``template__*`` arrays, written as an official file and read back through the loader."""
    stats = {k.removeprefix("template__"): v for k, v in case.arrays.items() if k.startswith("template__")}
    save_motion_template(stats, folder / "motion_template.pkl")
    return load_motion_template(folder / "motion_template.pkl")


def assert_sequence_matches(case: GoldenCase, prefix: str, seq: MotionSequence) -> None:
    """README §6: degrees within 1e-3, everything else within 1e-4."""
    for name in ("exp", "scale", "t", "pitch", "yaw", "roll", "R"):
        atol = 1e-3 if name in ("pitch", "yaw", "roll") else 1e-4
        case.assert_close(f"{prefix}_{name}", getattr(seq, name), rtol=1e-4, atol=atol)
