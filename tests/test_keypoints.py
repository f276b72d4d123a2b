"""Keypoint math against the golden reference (no network needed: inputs are stored refined values)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.render.keypoints import eye_close_ratio, lip_close_ratio, transform_keypoint
from model.rotation import get_rotation_matrix
from tests.golden import load_case


@pytest.mark.golden
def test_rotation_and_transform_match_golden_b() -> None:
    case = load_case("b_motion_extractor.npz")
    t = {k: torch.from_numpy(case[f"refined_{k}"]) for k in ("pitch", "yaw", "roll", "kp", "exp", "t", "scale")}
    rot_t = get_rotation_matrix(t["pitch"], t["yaw"], t["roll"])
    case.assert_close("R", rot_t, rtol=0, atol=1e-4)
    x_s = transform_keypoint(t["kp"], rot_t, t["exp"], t["scale"], t["t"])
    case.assert_close("x_s", x_s, rtol=0, atol=1e-4)


@pytest.mark.golden
def test_landmark_ratios_match_golden_h() -> None:
    case = load_case("h_crop.npz")
    lmk = case["lmk203"][None]
    case.assert_close("eye_close_ratio", eye_close_ratio(lmk), rtol=1e-6, atol=1e-6)
    case.assert_close("lip_close_ratio", lip_close_ratio(lmk), rtol=1e-6, atol=1e-6)


def test_rotation_is_orthonormal_and_transposed() -> None:
    angles = torch.tensor([[10.0, -25.0, 40.0], [0.0, 0.0, 0.0], [-80.0, 5.0, 1.0]])
    rot_t = get_rotation_matrix(angles[:, 0], angles[:, 1], angles[:, 2:])
    eye = torch.eye(3).expand(3, 3, 3)
    torch.testing.assert_close(rot_t @ rot_t.transpose(1, 2), eye, atol=1e-6, rtol=0)
    # pure yaw of +90 degrees maps the x axis to -z when applied to row vectors
    yaw90 = get_rotation_matrix(torch.zeros(1), torch.full((1,), 90.0), torch.zeros(1))
    x_axis, minus_z = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, -1.0]])
    torch.testing.assert_close(x_axis @ yaw90[0], minus_z, atol=1e-6, rtol=0)


def test_transform_ignores_tz_and_scales_expression() -> None:
    kp = torch.randn(2, 21, 3)
    exp = torch.randn(2, 21, 3)
    rot_t = torch.eye(3).expand(2, 3, 3)
    scale = torch.tensor([[2.0], [0.5]])
    t = torch.tensor([[1.0, 2.0, 100.0], [0.0, -1.0, -100.0]])
    out = transform_keypoint(kp, rot_t, exp, scale, t)
    expected = (kp + exp) * scale[..., None]
    expected[..., :2] += t[:, None, :2]
    torch.testing.assert_close(out, expected)
    assert np.isfinite(out.numpy()).all()
