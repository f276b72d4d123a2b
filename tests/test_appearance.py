"""Appearance feature extractor F: checkpoint layout, golden cases a and small/a, batching."""

from __future__ import annotations

import pytest
import torch

from model.render.appearance import AppearanceFeatureExtractor
from model.render.config import AppearanceConfig
from tests.golden import load_case, load_manifest
from tests.helpers import assert_matches_manifest, with_recipe_weights

SMALL = AppearanceConfig(
    block_expansion=8, num_down_blocks=4, max_features=64, reshape_channel=8, reshape_depth=8, num_resblocks=2
)


@pytest.mark.golden
@pytest.mark.parametrize("name", ["a_appearance_feature_extractor.npz", "small/a_appearance_feature_extractor.npz"])
def test_golden_feature_volume(name: str) -> None:
    case = load_case(name)
    net = with_recipe_weights(
        AppearanceFeatureExtractor(AppearanceConfig(**case.manifest()["config"])), case.weights_seed
    )
    # prepare_source: uint8 HWC -> float32 / 255 (already in [0, 1]), NCHW.
    image = torch.from_numpy(case["image_u8"]).float().div(255).permute(0, 3, 1, 2)
    with torch.inference_mode():
        case.assert_close("feature_3d", net(image))


@pytest.mark.parametrize(
    "manifest_name", ["appearance_feature_extractor.json", "small/appearance_feature_extractor.json"]
)
def test_layout_matches_official_manifest(manifest_name: str) -> None:
    manifest = load_manifest(manifest_name)
    net = AppearanceFeatureExtractor(AppearanceConfig(**manifest["config"]))
    assert_matches_manifest(net, manifest)
    assert sum(p.numel() for p in net.parameters()) == manifest["param_count"]
    assert sum(b.numel() for b in net.buffers()) == manifest["buffer_count"]


def test_batch_items_are_independent() -> None:
    net = with_recipe_weights(AppearanceFeatureExtractor(SMALL), seed=3)
    images = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        both = net(images)
        assert both.shape == (2, SMALL.reshape_channel, SMALL.reshape_depth, 4, 6)
        for i in range(2):
            torch.testing.assert_close(both[i : i + 1], net(images[i : i + 1]), rtol=1e-5, atol=1e-6)


def test_reshape_must_cover_max_features() -> None:
    with pytest.raises(ValueError, match="reshape_channel"):
        AppearanceFeatureExtractor(AppearanceConfig(reshape_depth=8))
