"""Stitching / retargeting MLPs: checkpoint layout and golden case e."""

from __future__ import annotations

import pytest
import torch

from model.checkpoint import CheckpointError
from model.render.config import StitchingConfig
from model.render.stitching import CHECKPOINT_NAMES, StitchingRetargeting
from model.testweights.writer import stitching_checkpoint
from tests.golden import load_case


def _network(case) -> StitchingRetargeting:
    config = StitchingConfig.from_dict(case.manifest()["config"])
    net = StitchingRetargeting(config)
    net.load_checkpoint_dict(stitching_checkpoint(config, case.weights_seed), "recipe")
    return net.eval()


@pytest.mark.golden
def test_golden_e_mlps_and_wrapper_ops() -> None:
    case = load_case("e_stitching_retargeting.npz")
    net = _network(case)
    x = {k: torch.from_numpy(case[k]) for k in case.arrays}
    with torch.inference_mode():
        case.assert_close("stitching_out", net.stitching(x["stitching_in"]))
        case.assert_close("lip_out", net.lip(x["lip_in"]))
        case.assert_close("eye_out", net.eye(x["eye_in"]))
        case.assert_close("stitch_delta", net.stitch_delta(x["kp_source"], x["kp_driving"]))
        case.assert_close("stitching_kp", net.apply_stitching(x["kp_source"], x["kp_driving"]))
        case.assert_close("retarget_eye_delta", net.retarget_eye(x["kp_source"], x["eye_ratio"]))
        case.assert_close("retarget_lip_delta", net.retarget_lip(x["kp_source"], x["lip_ratio"]))


def test_checkpoint_layout_matches_manifest() -> None:
    case = load_case("e_stitching_retargeting.npz")
    manifest = case.manifest()
    net = StitchingRetargeting(StitchingConfig())
    ours = {
        f"{sub}.{k.removeprefix('module.')}": tuple(v.shape)
        for sub, sd in net.checkpoint_dict().items()
        for k, v in sd.items()
    }
    assert ours == {k: tuple(v["shape"]) for k, v in manifest["entries"].items()}
    assert sum(p.numel() for p in net.parameters()) == manifest["param_count"]


def test_bad_checkpoint_dicts_are_explained() -> None:
    net = StitchingRetargeting(StitchingConfig())
    good = net.checkpoint_dict()
    with pytest.raises(CheckpointError, match="missing sub-dicts"):
        net.load_checkpoint_dict({"retarget_eye": good["retarget_eye"]}, "s.pth")
    bad = {k: dict(v) for k, v in good.items()}
    bad["retarget_mouth"]["module.mlp.0.weight"] = torch.zeros(3, 3)
    with pytest.raises(CheckpointError, match=r"mlp\.0\.weight: expected \(128, 65\), found \(3, 3\)"):
        net.load_checkpoint_dict(bad, "s.pth")
    assert set(CHECKPOINT_NAMES.values()) == set(good)


def test_batched_stitching_equals_per_item() -> None:
    torch.manual_seed(0)
    net = StitchingRetargeting(StitchingConfig()).eval()
    src, drv = torch.randn(3, 21, 3), torch.randn(3, 21, 3)
    full = net.apply_stitching(src, drv)
    for i in range(3):
        torch.testing.assert_close(full[i : i + 1], net.apply_stitching(src[i : i + 1], drv[i : i + 1]))
