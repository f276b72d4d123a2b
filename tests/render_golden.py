"""Golden case g (and small/g) inputs: the five networks, the source, the driving motion, the flags."""

from __future__ import annotations

import torch

from model.motion.sequence import MotionSequence
from model.render.appearance import AppearanceFeatureExtractor
from model.render.composition import CompositionOptions
from model.render.config import (
    AppearanceConfig,
    MotionExtractorConfig,
    RendererConfig,
    SpadeConfig,
    StitchingConfig,
    WarpingConfig,
)
from model.render.loading import RendererNetworks
from model.render.motion_extractor import MotionExtractor
from model.render.spade import SPADEDecoder
from model.render.stitching import StitchingRetargeting
from model.render.warping import WarpingNetwork
from model.testweights.writer import stitching_checkpoint
from tests.golden import GoldenCase
from tests.helpers import with_recipe_weights

#: The composition never reads the frame rate; MotionSequence requires one.
UNUSED_FPS = 25.0


def case_config(case: GoldenCase) -> RendererConfig:
    """The sizes of F, M, W, G, S from the manifests the case names."""
    return RendererConfig(
        appearance=AppearanceConfig(**case.manifest("F")["config"]),
        motion_extractor=MotionExtractorConfig.from_dict(case.manifest("M")["config"]),
        warping=WarpingConfig.from_dict(case.manifest("W")["config"]),
        spade=SpadeConfig(**case.manifest("G")["config"]),
        stitching=StitchingConfig.from_dict(case.manifest("S")["config"]),
    )


def case_stitching(case: GoldenCase) -> StitchingRetargeting:
    """S with the case's recipe weights."""
    config = StitchingConfig.from_dict(case.manifest("S")["config"])
    stitching = StitchingRetargeting(config)
    stitching.load_checkpoint_dict(stitching_checkpoint(config, case.weights_seed), "recipe")
    return stitching.eval()


def case_motion_extractor(case: GoldenCase) -> MotionExtractor:
    """M with the case's recipe weights."""
    config = MotionExtractorConfig.from_dict(case.manifest("M")["config"])
    return with_recipe_weights(MotionExtractor(config), case.weights_seed)


def case_renderer(case: GoldenCase) -> RendererNetworks:
    """All five networks with the case's recipe weights."""
    config, seed = case_config(case), case.weights_seed
    return RendererNetworks(
        appearance=with_recipe_weights(AppearanceFeatureExtractor(config.appearance), seed),
        motion_extractor=case_motion_extractor(case),
        warping=with_recipe_weights(WarpingNetwork(config.warping), seed),
        spade=with_recipe_weights(SPADEDecoder(config.spade), seed),
        stitching=case_stitching(case),
        config=config,
    )


def case_motion(case: GoldenCase) -> MotionSequence:
    """The stored driving frames (``driving_*``) as a motion sequence."""
    fields = ("exp", "scale", "t", "pitch", "yaw", "roll", "R")
    return MotionSequence(**{k: case[f"driving_{k}"] for k in fields}, fps=UNUSED_FPS)


def case_options(case: GoldenCase) -> CompositionOptions:
    """The case's official flags as composition options (the unsupported retargeting flags must be off)."""
    flags = case.meta["flags"]
    assert not (flags["flag_eye_retargeting"] or flags["flag_lip_retargeting"]), "retargeting is not supported"
    assert not flags["flag_do_crop"], "only the no-crop source path is reproduced here"
    return CompositionOptions(
        mode="animal" if "animal" in case.meta["call"] else "human",
        relative_motion=flags["flag_relative_motion"],
        driving_option=flags["driving_option"],
        animation_region=flags["animation_region"],
        stitching=flags["flag_stitching"],
        normalize_lip=flags["flag_normalize_lip"],
        driving_multiplier=flags["driving_multiplier"],
    )


def case_dtype(case: GoldenCase) -> torch.dtype | None:
    """float16 when the reference ran with half precision, else float32 (None)."""
    return torch.float16 if case.meta["flags"]["flag_use_half_precision"] else None
