"""Source preparation and batched rendering: golden g / small g, batching, half precision, parse_output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.render.appearance import AppearanceFeatureExtractor
from model.render.composition import driving_keypoints
from model.render.config import NETWORK_INPUT_SIZE
from model.render.loading import RendererNetworks
from model.render.motion_extractor import MotionExtractor
from model.render.renderer import (
    attach_source,
    prepare_source,
    render,
    render_float,
    source_tensor,
    to_uint8_frames,
)
from model.render.spade import SPADEDecoder
from model.render.stitching import StitchingRetargeting
from model.render.warping import WarpingNetwork
from model.testweights.writer import SMALL_RENDERER
from tests.golden import load_case
from tests.helpers import with_recipe_weights
from tests.render_golden import case_dtype, case_motion, case_options, case_renderer

# Another batch size may pick another conv blocking: float32 rounding, not a real difference.
BATCH_TOL = {"rtol": 1e-4, "atol": 1e-5}


@pytest.mark.golden
@pytest.mark.parametrize(
    "name", [pytest.param("g_render.npz", marks=pytest.mark.slow), "small/g_render.npz"]
)
def test_golden_g_frames(name: str) -> None:
    case = load_case(name)
    nets = case_renderer(case)
    source = prepare_source(nets, case["source_rgb"])
    x_d = driving_keypoints(nets.stitching, source.motion, case_motion(case), case_options(case))
    case.assert_close("x_s", source.motion.x_s, rtol=0, atol=1e-4)
    case.assert_close("kp_d_final", x_d, rtol=0, atol=1e-4)
    # All frames in one W+G batch: a full-size frame costs 5-10 s on a 2-core CPU.
    (images,) = render_float(nets, source, x_d, batch_size=len(x_d), dtype=case_dtype(case))
    case.assert_close("out_float", images, rtol=0, atol=1e-4)
    case.assert_uint8_close("frames_uint8", to_uint8_frames(images), float_key="out_float")


# --- unit tests on the small test-weight sizes ------------------------------------------------------


@pytest.fixture(scope="module")
def small_nets() -> RendererNetworks:
    config = SMALL_RENDERER
    return RendererNetworks(
        appearance=with_recipe_weights(AppearanceFeatureExtractor(config.appearance), seed=7),
        motion_extractor=with_recipe_weights(MotionExtractor(config.motion_extractor), seed=7),
        warping=with_recipe_weights(WarpingNetwork(config.warping), seed=7),
        spade=with_recipe_weights(SPADEDecoder(config.spade), seed=7),
        stitching=with_recipe_weights(StitchingRetargeting(config.stitching), seed=7),
        config=config,
    )


def _image(seed: int = 0, size: int = NETWORK_INPUT_SIZE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


#: Unit tests feed a prepared 128x128 source (the networks take any multiple of 32): 4x less work.
UNIT_SIZE = 128


def _unit_source(seed: int = 0) -> torch.Tensor:
    return source_tensor(_image(seed)).narrow(2, 0, UNIT_SIZE).narrow(3, 0, UNIT_SIZE)


def _driving(source, frames: int, seed: int = 0) -> torch.Tensor:
    """Driving keypoints near x_s, kept inside the feature volume (recipe weights give |x_s| up to ~5)."""
    x_s = source.motion.x_s / source.motion.x_s.abs().max() * 0.75
    gen = torch.Generator().manual_seed(seed)
    return x_s + 0.05 * torch.randn(frames, *x_s.shape[1:], generator=gen)


def test_prepare_source_runs_f_and_m_once_and_render_never(small_nets: RendererNetworks) -> None:
    calls = {"F": 0, "M": 0}

    def count(name: str):
        def hook(*_args) -> None:
            calls[name] += 1

        return hook

    handles = [
        small_nets.appearance.register_forward_hook(count("F")),
        small_nets.motion_extractor.register_forward_hook(count("M")),
    ]
    try:
        source = prepare_source(small_nets, _unit_source())
        frames = list(render(small_nets, source, _driving(source, 5), batch_size=2))
    finally:
        for handle in handles:
            handle.remove()
    assert calls == {"F": 1, "M": 1}
    assert [f.shape for f in frames] == [(2, 64, 64, 3), (2, 64, 64, 3), (1, 64, 64, 3)]
    assert all(f.dtype == torch.uint8 for f in frames)
    assert source.feature_3d.shape == (1, 8, 8, 8, 8)
    assert source.motion.x_s.shape == (1, 21, 3)


def test_attach_source_equals_prepare_source(small_nets: RendererNetworks) -> None:
    prepared = prepare_source(small_nets, _unit_source())
    again = attach_source(small_nets, prepared.feature_3d, prepared.motion)
    x_d = _driving(prepared, 2)
    (a,) = render_float(small_nets, prepared, x_d)
    (b,) = render_float(small_nets, again, x_d)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_batch_size_does_not_change_frames(small_nets: RendererNetworks) -> None:
    source = prepare_source(small_nets, _unit_source())
    x_d = _driving(source, 5)
    one = torch.cat(list(render_float(small_nets, source, x_d, batch_size=1)))
    for batch_size in (3, 8):
        torch.testing.assert_close(torch.cat(list(render_float(small_nets, source, x_d, batch_size=batch_size))), one,
                                   **BATCH_TOL)
    assert one.shape == (5, 3, 64, 64) and one.dtype == torch.float32
    frames = torch.cat(list(render(small_nets, source, x_d, batch_size=1)))
    torch.testing.assert_close(frames, to_uint8_frames(one), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_autocast_runs_on_cpu_and_stays_close(small_nets: RendererNetworks, dtype) -> None:
    source = prepare_source(small_nets, _unit_source())
    x_d = _driving(source, 2)
    (reference,) = render_float(small_nets, source, x_d)
    (half,) = render_float(small_nets, source, x_d, dtype=dtype)
    assert half.dtype == torch.float32
    err = (half - reference).abs()
    # bfloat16 keeps 8 significant bits, float16 11: measured mean / max 3.7e-3 / 2.7e-2 (bf16) and
    # 4.8e-4 / 3.6e-3 (fp16) on images in [0, 1]; the bounds leave room for other kernels.
    assert err.mean() < 1e-2 and err.max() < 1e-1, (err.mean(), err.max())
    assert not torch.equal(half, reference)


def test_bad_render_options_are_refused(small_nets: RendererNetworks) -> None:
    source = prepare_source(small_nets, _unit_source())
    with pytest.raises(ValueError, match="batch_size"):
        next(render(small_nets, source, _driving(source, 1), batch_size=0))
    with pytest.raises(ValueError, match="float16 or bfloat16"):
        next(render(small_nets, source, _driving(source, 1), dtype=torch.float64))


def test_generator_leaves_grad_mode_alone(small_nets: RendererNetworks) -> None:
    source = prepare_source(small_nets, _unit_source())
    frames = render(small_nets, source, _driving(source, 2), batch_size=1, dtype=torch.bfloat16)
    next(frames)
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    assert not torch.is_autocast_enabled("cpu")


def test_uint8_conversion_clips_and_truncates() -> None:
    images = torch.tensor([0.0, 0.5, 0.999, 1.0, 1.7, -0.3, 254.9 / 255]).reshape(1, 1, 1, 7).expand(1, 3, 1, 7)
    frames = to_uint8_frames(images)
    assert frames.shape == (1, 1, 7, 3) and frames.dtype == torch.uint8
    # The reference: numpy clip, * 255, clip, astype(uint8) (truncation).
    expected = (np.clip(np.clip(images.numpy(), 0, 1) * 255, 0, 255)).astype(np.uint8).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(frames.numpy(), expected)
    assert frames[0, 0, :, 0].tolist() == [0, 127, 254, 255, 255, 0, 254]


def test_source_tensor_forms() -> None:
    image = _image(size=NETWORK_INPUT_SIZE)
    x = source_tensor(image)
    assert x.shape == (1, 3, NETWORK_INPUT_SIZE, NETWORK_INPUT_SIZE) and x.dtype == torch.float32
    np.testing.assert_array_equal(x[0].permute(1, 2, 0).numpy(), image.astype(np.float32) / 255)
    # Other sizes are resized to the network input, as the official prepare_source does.
    assert source_tensor(_image(size=100)).shape == (1, 3, NETWORK_INPUT_SIZE, NETWORK_INPUT_SIZE)
    assert torch.equal(source_tensor(x), x)
    with pytest.raises(ValueError, match="uint8"):
        source_tensor(image.astype(np.float32))
    with pytest.raises(ValueError, match="float"):
        source_tensor(torch.zeros(3, 8, 8))
