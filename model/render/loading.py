"""Load the five renderer networks of one mode from resolved weight paths."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from model.checkpoint import as_state_dict, load_state_dict_checked, read_checkpoint
from model.render.appearance import AppearanceFeatureExtractor
from model.render.config import RendererConfig
from model.render.motion_extractor import MotionExtractor
from model.render.spade import SPADEDecoder
from model.render.stitching import StitchingRetargeting
from model.render.warping import WarpingNetwork
from model.weights import WeightPaths


@dataclass
class RendererNetworks:
    """F, M, W, G and S of one mode, in eval mode on one device."""

    appearance: AppearanceFeatureExtractor
    motion_extractor: MotionExtractor
    warping: WarpingNetwork
    spade: SPADEDecoder
    stitching: StitchingRetargeting
    config: RendererConfig

    def modules(self) -> dict[str, nn.Module]:
        return {
            "appearance_feature_extractor": self.appearance,
            "motion_extractor": self.motion_extractor,
            "warping_module": self.warping,
            "spade_generator": self.spade,
            "stitching_retargeting_module": self.stitching,
        }


def load_network(module: nn.Module, path) -> nn.Module:
    """Strictly load a flat official ``.pth`` state dict into ``module``; returns it in eval mode."""
    load_state_dict_checked(module, as_state_dict(read_checkpoint(path), path), str(path))
    return module.eval()


def load_renderer(paths: WeightPaths, device: str | torch.device = "cpu") -> RendererNetworks:
    """Build the networks with the tree's sizes (``renderer_config.json`` or official) and load them."""
    config = RendererConfig.load(paths.renderer_config.parent) if paths.renderer_config else RendererConfig()
    stitching = StitchingRetargeting(config.stitching)
    stitching.load_checkpoint_dict(read_checkpoint(paths["stitching"]), str(paths["stitching"]))
    nets = RendererNetworks(
        appearance=load_network(
            AppearanceFeatureExtractor(config.appearance), paths.network("appearance_feature_extractor")
        ),
        motion_extractor=load_network(MotionExtractor(config.motion_extractor), paths.network("motion_extractor")),
        warping=load_network(WarpingNetwork(config.warping), paths.network("warping_module")),
        spade=load_network(SPADEDecoder(config.spade), paths.network("spade_generator")),
        stitching=stitching.eval(),
        config=config,
    )
    for module in nets.modules().values():
        module.to(device)
    return nets
