"""Warping module W (dense motion included): checkpoint layout, golden cases c and small/c, batching."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from model.render.config import DenseMotionConfig, WarpingConfig
from model.render.dense_motion import coordinate_grid
from model.render.warping import WarpingNetwork
from tests.golden import load_case, load_manifest
from tests.helpers import assert_matches_manifest, with_recipe_weights

SMALL = WarpingConfig(
    block_expansion=8,
    max_features=64,
    reshape_channel=8,
    dense_motion=DenseMotionConfig(block_expansion=8, max_features=32, num_blocks=3, reshape_depth=8, compress=2),
)
SMALL_VOLUME = (SMALL.reshape_channel, SMALL.dense_motion.reshape_depth, 16, 16)
# Another batch size may pick another conv blocking: float32 rounding, not a real difference.
BATCH_TOL = {"rtol": 1e-4, "atol": 1e-5}


def _inputs(batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random f_s (batch, *SMALL_VOLUME) and keypoints (batch, K, 3) well inside the volume."""
    gen = torch.Generator().manual_seed(seed)
    feature = torch.randn(batch, *SMALL_VOLUME, generator=gen)
    kp_source = 1.5 * torch.rand(batch, SMALL.num_kp, 3, generator=gen) - 0.75
    kp_driving = kp_source + 0.05 * torch.randn(batch, SMALL.num_kp, 3, generator=gen)
    return feature, kp_source, kp_driving


@pytest.fixture(scope="module")
def small_net() -> WarpingNetwork:
    return with_recipe_weights(WarpingNetwork(SMALL), seed=5)


@pytest.mark.golden
@pytest.mark.parametrize(
    "name", [pytest.param("c_warping_module.npz", marks=pytest.mark.slow), "small/c_warping_module.npz"]
)
def test_golden_warping(name: str) -> None:
    case = load_case(name)
    net = with_recipe_weights(WarpingNetwork(WarpingConfig.from_dict(case.manifest()["config"])), case.weights_seed)
    feature = torch.from_numpy(case.linked_input("feature_3d")).float()
    with torch.inference_mode():
        out = net(
            feature,
            kp_source=torch.from_numpy(case["kp_source"]),
            kp_driving=torch.from_numpy(case["kp_driving"]),
        )
    for key in ("occlusion_map", "deformation", "out"):
        case.assert_close(key, out[key])


@pytest.mark.parametrize("manifest_name", ["warping_module.json", "small/warping_module.json"])
def test_layout_matches_official_manifest(manifest_name: str) -> None:
    manifest = load_manifest(manifest_name)
    net = WarpingNetwork(WarpingConfig.from_dict(manifest["config"]))
    assert_matches_manifest(net, manifest)
    assert list(net.state_dict()) == list(manifest["entries"])
    assert sum(p.numel() for p in net.parameters()) == manifest["param_count"]
    assert sum(b.numel() for b in net.buffers()) == manifest["buffer_count"]


def test_coordinate_lattice_is_align_corners_true_style() -> None:
    grid = coordinate_grid(3, 5, 9, like=torch.empty(0, dtype=torch.float64))
    assert grid.shape == (3, 5, 9, 3)
    torch.testing.assert_close(grid[0, 0, 0], torch.tensor([-1.0, -1.0, -1.0], dtype=torch.float64))
    torch.testing.assert_close(grid[-1, -1, -1], torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64))
    # Last axis is (x along W, y along H, z along D).
    torch.testing.assert_close(grid[1, 2, 3], torch.tensor([2 * 3 / 8 - 1, 0.0, 0.0], dtype=torch.float64))


def test_batch_items_are_independent(small_net: WarpingNetwork) -> None:
    feature, kp_source, kp_driving = _inputs(2)
    with torch.inference_mode():
        both = small_net(feature, kp_source=kp_source, kp_driving=kp_driving)
        assert both["out"].shape == (2, SMALL.block_expansion * 4, 16, 16)
        assert both["deformation"].shape == (2, SMALL.dense_motion.reshape_depth, 16, 16, 3)
        assert both["occlusion_map"].shape == (2, 1, 16, 16)
        for i in range(2):
            one = small_net(feature[i : i + 1], kp_source=kp_source[i : i + 1], kp_driving=kp_driving[i : i + 1])
            for key, value in one.items():
                torch.testing.assert_close(both[key][i : i + 1], value, **BATCH_TOL)


def test_one_source_broadcasts_over_driving_batch(small_net: WarpingNetwork) -> None:
    feature, kp_source, _ = _inputs(1)
    kp_driving = kp_source + 0.05 * torch.randn(3, SMALL.num_kp, 3, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expanded = small_net(
            feature.expand(3, -1, -1, -1, -1).clone(), kp_source=kp_source.expand(3, -1, -1), kp_driving=kp_driving
        )
        source = small_net.prepare_source(feature, kp_source)
        broadcast = small_net.drive(source, kp_driving)
        again = small_net.drive(source, kp_driving[1:])
    assert broadcast.keys() == expanded.keys()
    for key in expanded:
        torch.testing.assert_close(broadcast[key], expanded[key], **BATCH_TOL)
        torch.testing.assert_close(again[key], expanded[key][1:], **BATCH_TOL)


def test_incompatible_batches_are_refused(small_net: WarpingNetwork) -> None:
    feature, kp_source, kp_driving = _inputs(2)
    with torch.inference_mode(), pytest.raises(ValueError, match="broadcast"):
        small_net(feature, kp_source=kp_source, kp_driving=torch.cat([kp_driving, kp_driving[:1]]))


def test_without_occlusion_map() -> None:
    config = dataclasses.replace(SMALL, estimate_occlusion_map=False)
    net = with_recipe_weights(WarpingNetwork(config), seed=5)
    assert not any(key.startswith("dense_motion_network.occlusion") for key in net.state_dict())
    feature, kp_source, kp_driving = _inputs(1)
    with torch.inference_mode():
        out = net(feature, kp_source=kp_source, kp_driving=kp_driving)
    assert set(out) == {"deformation", "out"}


def test_volume_size_must_match_config() -> None:
    with pytest.raises(ValueError, match="reshape_channel"):
        WarpingNetwork(WarpingConfig(max_features=256))
