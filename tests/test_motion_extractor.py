"""Motion extractor M (ConvNeXt-V2): checkpoint layout, golden cases b and small/b, refinement, batching."""

from __future__ import annotations

import pytest
import torch

from model.render.config import MotionExtractorConfig
from model.render.keypoints import transform_keypoint
from model.render.motion_extractor import HEAD_NAMES, MotionExtractor, headpose_bins_to_degrees, kp_info
from model.rotation import get_rotation_matrix
from tests.golden import load_case, load_manifest
from tests.helpers import assert_matches_manifest, with_recipe_weights

SMALL = MotionExtractorConfig(depths=(1, 1, 1, 1), dims=(16, 32, 64, 128))


@pytest.mark.golden
@pytest.mark.parametrize(
    "name",
    [
        "b_motion_extractor.npz",
        # The full network on a smaller image (the small golden set keeps M full size).
        "small/b_motion_extractor.npz",
    ],
)
def test_golden_kp_info(name: str) -> None:
    case = load_case(name)
    net = with_recipe_weights(
        MotionExtractor(MotionExtractorConfig.from_dict(case.manifest()["config"])), case.weights_seed
    )
    # prepare_source: uint8 HWC -> float32 / 255 (already in [0, 1]), NCHW.
    image = torch.from_numpy(case["image_u8"]).float().div(255).permute(0, 3, 1, 2)
    with torch.inference_mode():
        raw = net(image)
        info = kp_info(raw)
        rot_t = get_rotation_matrix(info["pitch"], info["yaw"], info["roll"])
        x_s = transform_keypoint(info["kp"], rot_t, info["exp"], info["scale"], info["t"])
    for key in HEAD_NAMES:
        case.assert_close(f"raw_{key}", raw[key])
    for key in ("pitch", "yaw", "roll"):
        case.assert_close(f"refined_{key}", info[key], rtol=0, atol=1e-3)
    for key in ("kp", "exp", "t", "scale"):
        case.assert_close(f"refined_{key}", info[key], rtol=0, atol=1e-4)
    case.assert_close("R", rot_t, rtol=0, atol=1e-4)
    case.assert_close("x_s", x_s, rtol=0, atol=1e-4)


def test_layout_matches_official_manifest() -> None:
    manifest = load_manifest("motion_extractor.json")
    net = MotionExtractor(MotionExtractorConfig.from_dict(manifest["config"]))
    assert all(k.startswith("detector.") for k in net.state_dict())
    assert_matches_manifest(net, manifest)
    assert sum(p.numel() for p in net.parameters()) == manifest["param_count"]
    assert sum(b.numel() for b in net.buffers()) == manifest["buffer_count"]


def test_small_config_shapes_and_batch_items_are_independent() -> None:
    net = with_recipe_weights(MotionExtractor(SMALL), seed=5)
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        both = net(images)
        singles = [net(images[i : i + 1]) for i in range(2)]
    k, bins = SMALL.num_kp, SMALL.num_bins
    expected = {"kp": 3 * k, "exp": 3 * k, "pitch": bins, "yaw": bins, "roll": bins, "t": 3, "scale": 1}
    assert {name: tuple(v.shape) for name, v in both.items()} == {name: (2, n) for name, n in expected.items()}
    for i, single in enumerate(singles):
        for name in HEAD_NAMES:
            torch.testing.assert_close(both[name][i : i + 1], single[name], rtol=1e-5, atol=1e-6)


def test_headpose_bins_to_degrees() -> None:
    bins = MotionExtractorConfig().num_bins
    logits = torch.full((3, bins), -1e4)
    logits[0] = 0.0  # uniform: expected bin 32.5 -> 0 degrees
    logits[1, 0] = 0.0  # all mass on bin 0 -> -97.5
    logits[2, 40] = 0.0  # bin 40 -> 3 * 40 - 97.5 = 22.5
    degrees = headpose_bins_to_degrees(logits)
    assert degrees.shape == (3, 1)
    torch.testing.assert_close(degrees[:, 0], torch.tensor([0.0, -97.5, 22.5]), rtol=0, atol=1e-4)


def test_kp_info_shapes() -> None:
    raw = {name: torch.randn(4, n) for name, n in {"kp": 63, "exp": 63, "t": 3, "scale": 1}.items()}
    raw.update({name: torch.randn(4, 66) for name in ("pitch", "yaw", "roll")})
    info = kp_info(raw)
    assert {k: tuple(v.shape) for k, v in info.items()} == {
        "pitch": (4, 1),
        "yaw": (4, 1),
        "roll": (4, 1),
        "kp": (4, 21, 3),
        "exp": (4, 21, 3),
        "t": (4, 3),
        "scale": (4, 1),
    }
