"""A tiny real motion generator (small HuBERT, small denoiser, recipe weights) for fast sampler tests."""

from __future__ import annotations

import functools

from transformers import HubertConfig

from model.motion.checkpoint import COMPUTED_KEYS
from model.motion.generator import MotionGenerator, MotionGeneratorConfig
from tests.helpers import with_recipe_weights

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
def tiny_generator(n_diff_steps: int = 50, n_motions: int = 6, n_prev_motions: int = 2) -> MotionGenerator:
    """Eval-mode generator with m = 5, d = 16, 25 fps; shared between tests, so do not modify it."""
    config = MotionGeneratorConfig(
        motion_feat_dim=5, n_motions=n_motions, n_prev_motions=n_prev_motions, feature_dim=16,
        audio_model="hubert_zh", n_diff_steps=n_diff_steps,
    )
    return with_recipe_weights(MotionGenerator(config, TINY_ENCODER), seed=0, computed=COMPUTED_KEYS)
