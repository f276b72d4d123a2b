"""``make-test-weights``: a complete weight tree in the official layout, filled by the recipe.

The tree has the same paths and file formats as an official ``pretrained_weights/`` folder, so the
production resolver and loaders read it exactly as they read the real weights:

* renderer networks: flat ``.pth`` state dicts (human: recipe seed ``seed``; animal: ``seed + 1``);
* the stitching module: the nested ``{retarget_shoulder, retarget_mouth, retarget_eye}`` dict with
  ``module.`` prefixes;
* the motion generator: the ``{'args', 'model', 'iter'}`` pickle (HuBERT weight norm under the older
  ``weight_g``/``weight_v`` names, as the released file most likely has them);
* the motion template: a numpy-pickle dict of 45 float32 arrays;
* the chinese-hubert-base ``config.json``;
* the X-Pose animal-face detector ``xpose.pth`` (``{'model': sd}``, shared MLPs under every alias name; the
  small size adds its ``xpose_config``) and its two prompt-embedding pickles (recipe values, official format).

``full`` uses the official sizes. ``small`` shrinks every network so that a 10 s clip runs end to
end on a laptop CPU in seconds; its sizes live in the files (``renderer_config.json`` beside each
``base_models/`` folder, the generator's ``args``, the HuBERT ``config.json``), never in code that
guesses sizes from weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.face.xpose.config import FULL as FULL_XPOSE
from model.face.xpose.config import SMALL as SMALL_XPOSE
from model.face.xpose.config import XPoseConfig
from model.render.appearance import AppearanceFeatureExtractor
from model.render.config import (
    AppearanceConfig,
    DenseMotionConfig,
    MotionExtractorConfig,
    RendererConfig,
    SpadeConfig,
    StitchingConfig,
    WarpingConfig,
)
from model.render.motion_extractor import MotionExtractor
from model.render.spade import SPADEDecoder
from model.render.stitching import StitchingRetargeting
from model.render.warping import WarpingNetwork
from model.testweights import recipe
from model.testweights.fill import recipe_state_dict
from model.weights import FILES, write_local_manifest

SMALL_RENDERER = RendererConfig(
    appearance=AppearanceConfig(block_expansion=8, num_down_blocks=4, max_features=64, reshape_channel=8,
                                reshape_depth=8, num_resblocks=2),
    motion_extractor=MotionExtractorConfig(depths=(1, 1, 1, 1), dims=(8, 16, 32, 64)),
    warping=WarpingConfig(block_expansion=8, max_features=64, reshape_channel=8,
                          dense_motion=DenseMotionConfig(block_expansion=8, max_features=32, num_blocks=3,
                                                         reshape_depth=8, compress=2)),
    spade=SpadeConfig(block_expansion=8, max_features=64),
)

#: Motion generator args (the checkpoint's Namespace). Full = the official training configuration
#: the golden manifest records; small = a tiny DiT with a short schedule.
FULL_GENERATOR_ARGS = {
    "motion_feat_dim": 70, "n_motions": 100, "n_prev_motions": 10, "feature_dim": 512, "audio_model": "hubert_zh",
    "n_diff_steps": 500, "diff_schedule": "cosine", "target": "sample", "fps": 25, "pad_mode": "zero",
    "use_indicator": True, "architecture": "decoder", "guiding_conditions": "audio,", "cfg_mode": "incremental",
}
SMALL_GENERATOR_ARGS = {**FULL_GENERATOR_ARGS, "feature_dim": 32, "n_diff_steps": 50}

#: HuBERT configs (chinese-hubert-base config.json fields). Small keeps the conv strides, so the
#: 50 Hz frame rate and the official padding arithmetic are unchanged.
FULL_HUBERT = {"model_type": "hubert", "architectures": ["HubertModel"]}
SMALL_HUBERT = {
    **FULL_HUBERT, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
    "conv_dim": [16] * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4,
}

#: Motion-template statistics: name -> (size, typical centre, half range); values stay plausible
#: (scale about 1.3..1.8, angles about +-25 degrees) so decoded motion is well conditioned.
_TEMPLATE_STATS = {
    "scale": (1, 1.55, 0.25), "R": (9, 0.0, 0.5), "t": (3, 0.0, 0.1), "exp": (63, 0.0, 0.05),
    "pitch": (1, 0.0, 25.0), "yaw": (1, 0.0, 25.0), "roll": (1, 0.0, 25.0), "lip": (1, 0.3, 0.2),
    "eyes": (2, 0.3, 0.15),
}


@dataclass(frozen=True)
class TreeSpec:
    renderer: RendererConfig
    generator_args: dict
    hubert: dict
    xpose: XPoseConfig


SIZES = {
    "full": TreeSpec(RendererConfig(), FULL_GENERATOR_ARGS, FULL_HUBERT, FULL_XPOSE),
    "small": TreeSpec(SMALL_RENDERER, SMALL_GENERATOR_ARGS, SMALL_HUBERT, SMALL_XPOSE),
}


def stitching_checkpoint(config: StitchingConfig, seed: int) -> dict[str, dict[str, torch.Tensor]]:
    """The official nested stitching dict, seeded by the manifest names ``<sub-dict>.<key>``."""
    layout = StitchingRetargeting(config).checkpoint_dict()
    out = {}
    for sub, sd in layout.items():
        entries = {f"{sub}.{k.removeprefix('module.')}": tuple(v.shape) for k, v in sd.items()}
        values = recipe.state_dict(entries, seed)
        out[sub] = {f"module.{k.split('.', 1)[1]}": torch.from_numpy(v) for k, v in values.items()}
    return out


def renderer_state_dicts(config: RendererConfig, seed: int) -> dict[str, dict[str, torch.Tensor]]:
    """Recipe state dicts of F, M, W, G by official file stem."""
    networks = {
        "appearance_feature_extractor": AppearanceFeatureExtractor(config.appearance),
        "motion_extractor": MotionExtractor(config.motion_extractor),
        "warping_module": WarpingNetwork(config.warping),
        "spade_generator": SPADEDecoder(config.spade),
    }
    return {name: recipe_state_dict(net, seed) for name, net in networks.items()}


def motion_template(seed: int) -> dict[str, np.ndarray]:
    """A 45-key template (``{mean,std,max,min,abs_max}_{quantity}``) of float32 arrays."""
    out: dict[str, np.ndarray] = {}
    for name, (size, centre, half) in _TEMPLATE_STATS.items():
        jitter = recipe.tensor(f"template.{name}", (4, size), seed, "uniform").astype(np.float64)
        lo = centre - half * (1.0 + 0.1 * jitter[0])
        hi = centre + half * (1.0 + 0.1 * jitter[1])
        out[f"mean_{name}"] = (lo + hi) / 2 + 0.05 * half * (jitter[2] - 0.5)
        out[f"std_{name}"] = half * (0.2 + 0.2 * jitter[3])
        out[f"max_{name}"] = hi
        out[f"min_{name}"] = lo
        out[f"abs_max_{name}"] = np.maximum(np.abs(lo), np.abs(hi))
    return {k: v.astype(np.float32) for k, v in out.items()}


def xpose_state_dict(config: XPoseConfig, seed: int) -> dict[str, torch.Tensor]:
    """Recipe weights for X-Pose under every official name: each shared MLP drawn once under its first name and
    the same tensor stored under its aliases; the computed Swin indices left out (as the golden harness did)."""
    from model.face.xpose.checkpoint import computed_keys, shared_keys
    from model.face.xpose.model import UniPose

    with torch.device("meta"):
        net = UniPose(config)
    aliases, computed = shared_keys(net), set(computed_keys(net))
    entries = {k: tuple(v.shape) for k, v in net.state_dict().items() if k not in aliases and k not in computed}
    drawn = {k: torch.from_numpy(v) for k, v in recipe.state_dict(entries, seed).items()}
    return {k: drawn[aliases.get(k, k)] for k in net.state_dict() if k not in computed}


def xpose_prompts(seed: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Recipe stand-ins for the CLIP prompt embeddings: {9: (instance (1, 512), keypoints (9, 512)), 68: ...},
    scaled to the official norms (about 10); the instance row is shared, as in the official files."""
    instance = 0.45 * recipe.tensor("xpose.text.instance", (1, 512), seed, "normal")
    return {n: (instance, 0.42 * recipe.tensor(f"xpose.text.keypoints_{n}", (n, 512), seed, "normal"))
            for n in (9, 68)}


def _local(key: str) -> str:
    return next(f.local_path for f in FILES if f.key == key)


def write_test_weights(root: str | Path, size: str = "small", seed: int = 0) -> Path:
    """Write the whole tree under ``root`` and return it."""
    from model.audio.encoder import load_encoder_config
    from model.face.xpose.checkpoint import save_xpose
    from model.face.xpose.model import TextPrompt
    from model.face.xpose.prompts import write_embeddings
    from model.motion.checkpoint import COMPUTED_KEYS, save_motion_generator
    from model.motion.generator import MotionGenerator, MotionGeneratorConfig
    from model.motion.template import save_motion_template

    spec = SIZES[size]
    root = Path(root)
    for mode, mode_seed in (("human", seed), ("animal", seed + 1)):
        for name, sd in renderer_state_dicts(spec.renderer, mode_seed).items():
            path = root / _local(f"{mode}.{name}")
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(sd, path)
        if spec.renderer != RendererConfig():
            (root / _local(f"{mode}.renderer_config")).write_text(json.dumps(spec.renderer.to_dict(), indent=1))
    stitching = root / _local("stitching")
    stitching.parent.mkdir(parents=True, exist_ok=True)
    torch.save(stitching_checkpoint(spec.renderer.stitching, seed), stitching)

    hubert_config = root / _local("hubert_config")
    hubert_config.parent.mkdir(parents=True, exist_ok=True)
    hubert_config.write_text(json.dumps(spec.hubert, indent=1))
    config = MotionGeneratorConfig.from_args(spec.generator_args)
    generator = MotionGenerator(config, load_encoder_config(config.audio_model, hubert_config))
    state = recipe_state_dict(generator, seed, computed=COMPUTED_KEYS)
    del generator
    save_motion_generator(state, spec.generator_args, root / _local("motion_generator"))

    template = root / _local("motion_template")
    template.parent.mkdir(parents=True, exist_ok=True)
    save_motion_template(motion_template(seed), template)

    save_xpose(xpose_state_dict(spec.xpose, seed), root / _local("xpose"), spec.xpose)
    for n, (instance, keypoints) in xpose_prompts(seed).items():
        write_embeddings(TextPrompt(torch.from_numpy(instance), torch.from_numpy(keypoints)),
                         root / _local(f"xpose.embedding_{n}"))
    # The tree is not the official release: its own manifest pins these files instead of the built-in one.
    write_local_manifest(root, (f.key for f in FILES if not f.on_demand),
                         f"make-test-weights --size {size} --seed {seed}: recipe weights, not the official release")
    return root
