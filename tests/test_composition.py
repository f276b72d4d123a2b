"""Driving-keypoint composition: golden g / small g, and the vectorised stages against a per-frame loop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy.spatial import ConvexHull

from model.motion.sequence import MotionSequence
from model.render.composition import (
    CompositionOptions,
    SourceMotion,
    apply_driving_multiplier,
    compose_motion,
    driving_keypoints,
    hull_motion_multiplier,
    lip_normalization_delta,
    stitch_keypoints,
)
from model.render.config import StitchingConfig
from model.render.keypoints import EYE_KEYPOINTS, LIP_KEYPOINTS, transform_keypoint
from model.render.motion_extractor import kp_info
from model.render.renderer import source_tensor
from model.render.stitching import StitchingRetargeting
from model.rotation import get_rotation_matrix
from tests.golden import load_case
from tests.helpers import with_recipe_weights
from tests.render_golden import UNUSED_FPS, case_motion, case_motion_extractor, case_options, case_stitching

NUM_KP = 21
FRAMES = 5


@pytest.mark.golden
@pytest.mark.parametrize("name", ["g_render.npz", "small/g_render.npz"])
def test_golden_g_keypoints(name: str) -> None:
    case = load_case(name)
    options = case_options(case)
    with torch.inference_mode():
        info = kp_info(case_motion_extractor(case)(source_tensor(case["source_rgb"])))
        source = SourceMotion.from_kp_info(info)
        stitching = case_stitching(case)
        composed = compose_motion(source, case_motion(case), options)
        stitched = stitch_keypoints(stitching, source, composed, options)
        final = apply_driving_multiplier(source, stitched, options.driving_multiplier)
        chained = driving_keypoints(stitching, source, case_motion(case), options)
    for key in ("pitch", "yaw", "roll"):
        case.assert_close(f"source_{key}", getattr(source, key), rtol=0, atol=1e-3)
    for key in ("kp", "exp", "t", "scale"):
        case.assert_close(f"source_{key}", getattr(source, key), rtol=0, atol=1e-4)
    case.assert_close("x_s", source.x_s, rtol=0, atol=1e-4)
    case.assert_close("kp_d_before_stitching", composed, rtol=0, atol=1e-4)
    case.assert_close("kp_d_after_stitching", stitched, rtol=0, atol=1e-4)
    case.assert_close("kp_d_final", final, rtol=0, atol=1e-4)
    torch.testing.assert_close(chained, final, rtol=0, atol=0)


# --- unit tests on random motion -------------------------------------------------------------------


def _source(seed: int = 0, lip_ratio: float | None = 0.2) -> SourceMotion:
    gen = torch.Generator().manual_seed(seed)
    info = {
        "kp": 0.3 * torch.randn(1, NUM_KP, 3, generator=gen),
        "exp": 0.02 * torch.randn(1, NUM_KP, 3, generator=gen),
        "pitch": 20 * torch.randn(1, 1, generator=gen),
        "yaw": 20 * torch.randn(1, 1, generator=gen),
        "roll": 20 * torch.randn(1, 1, generator=gen),
        "t": 0.05 * torch.randn(1, 3, generator=gen),
        "scale": 1.5 + 0.1 * torch.rand(1, 1, generator=gen),
    }
    return SourceMotion.from_kp_info(info, lip_ratio)


def _motion(frames: int = FRAMES, seed: int = 1) -> MotionSequence:
    rng = np.random.default_rng(seed)
    angles = [(20 * rng.standard_normal((frames, 1))).astype(np.float32) for _ in range(3)]
    rot = get_rotation_matrix(*(torch.from_numpy(a) for a in angles)).numpy()
    return MotionSequence(
        exp=(0.03 * rng.standard_normal((frames, NUM_KP, 3))).astype(np.float32),
        scale=(1.5 + 0.1 * rng.random((frames, 1))).astype(np.float32),
        t=(0.05 * rng.standard_normal((frames, 3))).astype(np.float32),
        pitch=angles[0], yaw=angles[1], roll=angles[2], R=rot, fps=UNUSED_FPS,
    )


@pytest.fixture(scope="module")
def stitching() -> StitchingRetargeting:
    net = StitchingRetargeting(StitchingConfig())
    return with_recipe_weights(net, seed=3)


def _reference_loop(
    stitching: StitchingRetargeting, source: SourceMotion, motion: MotionSequence, options: CompositionOptions
) -> torch.Tensor:
    """A frame-by-frame transcription of the official human / animal loops (eye/lip retargeting off).

    The ``eyes`` region follows our definition (the ``lip`` rule on the eye keypoints).
    """
    human, region = options.mode == "human", options.animation_region
    lip_delta = None
    if human and options.normalize_lip and options.relative_motion and source.lip_ratio is not None:
        if source.lip_ratio >= options.lip_normalize_threshold:
            lip_delta = stitching.retarget_lip(source.x_s, torch.tensor([[source.lip_ratio, 0.0]]))
    out = []
    for i in range(len(motion)):
        frame = {k: torch.from_numpy(getattr(motion, k)[i : i + 1]) for k in ("R", "exp", "scale", "t")}
        if i == 0:
            first = frame
        rot = (frame["R"] @ first["R"].permute(0, 2, 1)) @ source.R
        if human and region not in ("all", "pose"):
            rot = source.R
        delta = source.exp.clone()
        relative = source.exp + (frame["exp"] - first["exp"])
        if not human or region in ("all", "exp"):
            delta = relative.clone()
            if human:
                for k in LIP_KEYPOINTS:
                    delta[:, k, :] = frame["exp"][:, k, :]
        elif region in ("lip", "eyes"):
            for k in LIP_KEYPOINTS if region == "lip" else EYE_KEYPOINTS:
                delta[:, k, :] = relative[:, k, :]
        scale = source.scale * (frame["scale"] / first["scale"]) if human else source.scale
        t = source.t + (frame["t"] - first["t"])
        t[..., 2].fill_(0)
        x_d = scale * (source.kp @ rot + delta) + t
        if not human or (options.relative_motion and options.driving_option == "expression-friendly"):
            if i == 0:
                x_d0 = x_d
                multiplier = hull_motion_multiplier(source.x_s, x_d0)
            x_d = (x_d - x_d0) * multiplier + source.x_s
        if options.stitching:
            x_d = stitching.apply_stitching(source.x_s, x_d)
        if lip_delta is not None:
            x_d = x_d + lip_delta
        out.append(source.x_s + (x_d - source.x_s) * options.driving_multiplier)
    return torch.cat(out)


OPTION_CASES = {
    "demo defaults": CompositionOptions(),
    "pose-friendly": CompositionOptions(driving_option="pose-friendly", driving_multiplier=1.1),
    "absolute, no stitching": CompositionOptions(relative_motion=False, stitching=False),
    "no stitching, lip normalised": CompositionOptions(stitching=False, driving_multiplier=1.5),
    "exp": CompositionOptions(animation_region="exp"),
    "pose": CompositionOptions(animation_region="pose", normalize_lip=False),
    "lip": CompositionOptions(animation_region="lip"),
    "eyes": CompositionOptions(animation_region="eyes", driving_option="pose-friendly"),
    "animal": CompositionOptions(mode="animal", driving_multiplier=1.75),
    "animal, no stitching": CompositionOptions(mode="animal", stitching=False, relative_motion=False),
}


@pytest.mark.parametrize("options", OPTION_CASES.values(), ids=OPTION_CASES.keys())
def test_vectorised_equals_per_frame_loop(stitching: StitchingRetargeting, options: CompositionOptions) -> None:
    source, motion = _source(), _motion()
    with torch.inference_mode():
        ours = driving_keypoints(stitching, source, motion, options)
        reference = _reference_loop(stitching, source, motion, options)
    assert ours.shape == (FRAMES, NUM_KP, 3)
    # Batched MLP / matmul blocking may differ from batch 1 in the last float32 bits.
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6)


def test_motion_multiplier_is_the_convex_hull_volume_ratio() -> None:
    source = _source()
    x_d0 = 1.3 * source.x_s + 0.01
    volumes = [ConvexHull(kp[0].numpy().astype(np.float64)).volume for kp in (source.x_s, x_d0)]
    expected = np.sqrt(volumes[0]) / np.sqrt(volumes[1])
    assert hull_motion_multiplier(source.x_s, x_d0) == pytest.approx(expected, rel=1e-12)
    # Volumes scale with the cube of a length: a 1.3x larger driving set gives 1.3^-1.5.
    assert expected == pytest.approx(1.3**-1.5, rel=1e-5)


def test_expression_friendly_first_frame_is_the_source() -> None:
    source = _source()
    composed = compose_motion(source, _motion(), CompositionOptions())
    torch.testing.assert_close(composed[0], source.x_s[0], rtol=0, atol=1e-6)
    assert not torch.allclose(composed[1:], source.x_s.expand(FRAMES - 1, -1, -1), atol=1e-3)


def _with(motion: MotionSequence, **changes: np.ndarray) -> MotionSequence:
    return dataclasses.replace(motion, **changes)


def test_animal_ignores_driving_scale_and_drives_lips_relatively() -> None:
    source, motion = _source(), _motion()
    options = CompositionOptions(mode="animal", stitching=False)
    base = compose_motion(source, motion, options)
    rescaled = _with(motion, scale=motion.scale * np.linspace(0.5, 2.0, FRAMES, dtype=np.float32)[:, None])
    torch.testing.assert_close(compose_motion(source, rescaled, options), base)
    # A constant offset of every frame's lips cancels in relative motion; the human path drives them absolutely.
    lips = motion.exp.copy()
    lips[:, list(LIP_KEYPOINTS)] += 0.05
    shifted = _with(motion, exp=lips)
    torch.testing.assert_close(compose_motion(source, shifted, options), base, rtol=0, atol=1e-5)
    human = dataclasses.replace(options, mode="human", driving_option="pose-friendly")
    assert not torch.allclose(compose_motion(source, shifted, human), compose_motion(source, motion, human), atol=1e-3)


def test_animal_ignores_region_and_human_only_flags() -> None:
    source, motion = _source(), _motion()
    base = compose_motion(source, motion, CompositionOptions(mode="animal"))
    for options in (
        CompositionOptions(mode="animal", animation_region="lip"),
        CompositionOptions(mode="animal", driving_option="pose-friendly", relative_motion=False),
    ):
        torch.testing.assert_close(compose_motion(source, motion, options), base, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("region", "moving"), [("pose", ()), ("lip", LIP_KEYPOINTS), ("eyes", EYE_KEYPOINTS)]
)
def test_regions_move_only_their_expression_rows(region: str, moving: tuple[int, ...]) -> None:
    source, motion = _source(), _motion()
    options = CompositionOptions(animation_region=region, driving_option="pose-friendly", stitching=False)
    ours = compose_motion(source, motion, options)
    rot = torch.from_numpy(motion.R) @ torch.from_numpy(motion.R[:1]).transpose(1, 2) @ source.R
    if region != "pose":
        rot = source.R.expand(FRAMES, 3, 3)
    scale = source.scale * torch.from_numpy(motion.scale / motion.scale[:1])
    t = source.t + torch.from_numpy(motion.t - motion.t[:1])
    still = transform_keypoint(source.kp.expand(FRAMES, -1, -1), rot, source.exp.expand(FRAMES, -1, -1), scale, t)
    changed = (ours - still).abs().amax(dim=(0, 2)) > 1e-6
    assert set(torch.nonzero(changed).flatten().tolist()) == set(moving)


def test_lip_normalization_applies_from_the_threshold(stitching: StitchingRetargeting) -> None:
    options = CompositionOptions()
    at = lip_normalization_delta(stitching, _source(lip_ratio=options.lip_normalize_threshold), options)
    assert at is not None and at.shape == (1, NUM_KP, 3)
    assert lip_normalization_delta(stitching, _source(lip_ratio=0.02), options) is None
    assert lip_normalization_delta(stitching, _source(lip_ratio=None), options) is None
    for off in (dataclasses.replace(options, normalize_lip=False), dataclasses.replace(options, relative_motion=False),
                dataclasses.replace(options, mode="animal")):
        assert lip_normalization_delta(stitching, _source(), off) is None


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="animation_region"):
        CompositionOptions(animation_region="mouth")
    with pytest.raises(ValueError, match="mode"):
        CompositionOptions(mode="dog")
    with pytest.raises(ValueError, match="driving multiplier"):
        CompositionOptions(driving_multiplier=float("nan"))
    with pytest.raises(ValueError, match="no driving frames"):
        compose_motion(_source(), _motion(frames=0), CompositionOptions())


# --- intensities: pose, expression and lip scales ---------------------------------------------------------


def test_default_intensities_give_the_official_keypoints_bit_for_bit() -> None:
    source, motion = _source(), _motion()
    cases = (CompositionOptions(), CompositionOptions(mode="animal"), CompositionOptions(animation_region="lip"))
    for options in cases:
        explicit = CompositionOptions(**{**options.__dict__, "pose_scale": 1.0, "expression_scale": 1.0,
                                         "lip_scale": 1.0})
        assert torch.equal(compose_motion(source, motion, explicit), compose_motion(source, motion, options))


def test_pose_scale_zero_holds_the_head_still() -> None:
    motion = _motion().with_pose_scaled(0.0)
    for channel in (motion.pitch, motion.yaw, motion.roll, motion.t, motion.scale):
        assert np.all(channel == channel[:1])  # constant pitch, yaw, roll, translation and scale
    half = _motion().with_pose_scaled(0.5)
    np.testing.assert_allclose(half.yaw - half.yaw[:1], 0.5 * (_motion().yaw - _motion().yaw[:1]), atol=1e-5)
    assert np.array_equal(half.exp, _motion().exp)  # the pose only


@pytest.mark.parametrize("mode", ["human", "animal"])
def test_lip_scale_zero_keeps_the_sources_lips(mode: str) -> None:
    source, motion = _source(), _motion()
    options = CompositionOptions(mode=mode, pose_scale=0.0, lip_scale=0.0)
    x_d = compose_motion(source, motion, options)
    lips = list(LIP_KEYPOINTS)
    # With a still head and lip scale 0 the lip keypoints are the source's (before stitching), frame after frame.
    torch.testing.assert_close(x_d[:, lips], source.x_s[:, lips].expand(len(motion), -1, -1), atol=2e-5, rtol=0)
    others = [k for k in range(NUM_KP) if k not in lips]
    assert (x_d[:, others] - x_d[:1, others]).abs().max() > 1e-3  # the rest of the face still moves


def test_expression_and_lip_scales_scale_their_rows_only() -> None:
    source, motion = _source(), _motion()
    still = dict(pose_scale=0.0, driving_option="pose-friendly")  # no head motion, no hull multiplier
    base = compose_motion(source, motion, CompositionOptions(**still))
    doubled = compose_motion(source, motion, CompositionOptions(**still, expression_scale=2.0))
    lips, others = list(LIP_KEYPOINTS), [k for k in range(NUM_KP) if k not in LIP_KEYPOINTS]
    torch.testing.assert_close(doubled[:, lips], base[:, lips])
    torch.testing.assert_close(doubled[:, others] - doubled[:1, others], 2 * (base[:, others] - base[:1, others]),
                               atol=1e-5, rtol=1e-4)
    opened = compose_motion(source, motion, CompositionOptions(**still, lip_scale=1.5))
    torch.testing.assert_close(opened[:, others], base[:, others])
    assert not torch.allclose(opened[:, lips], base[:, lips])


def test_intensities_are_validated() -> None:
    with pytest.raises(ValueError, match="lip scale must be from 0 to 2"):
        CompositionOptions(lip_scale=3)
    with pytest.raises(ValueError, match="pose scale must be a finite number"):
        CompositionOptions(pose_scale=float("nan"))
