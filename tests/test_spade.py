"""SPADE generator G: checkpoint layout, folded spectral norm, golden cases d and small/d, batching."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from model.render.config import SpadeConfig
from model.render.spade import SPADEDecoder, SpectralNormConv2d
from model.testweights.fill import recipe_state_dict
from tests.golden import load_case, load_manifest
from tests.helpers import assert_matches_manifest, with_recipe_weights

SMALL = SpadeConfig(block_expansion=8, max_features=64)
SMALL_CHANNELS = 32  # min(max_features, block_expansion * 2^num_down_blocks)
# Another batch size may pick another conv blocking: float32 rounding, not a real difference.
BATCH_TOL = {"rtol": 1e-4, "atol": 1e-5}


def _feature(batch: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, SMALL_CHANNELS, 8, 8, generator=torch.Generator().manual_seed(seed))


def _spectral_convs(net: nn.Module) -> dict[str, SpectralNormConv2d]:
    return {name: m for name, m in net.named_modules() if isinstance(m, SpectralNormConv2d)}


def _torch_spectral_norm_twin(net: SPADEDecoder) -> SPADEDecoder:
    """A copy of ``net`` whose folded convs are ``torch.nn.utils.spectral_norm`` convs with the same state."""
    twin = copy.deepcopy(net)
    for name, ours in _spectral_convs(net).items():
        out_channels, in_channels, kernel, _ = ours.weight_orig.shape
        conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=ours.bias is not None)
        conv = torch.nn.utils.spectral_norm(conv)
        assert list(conv.state_dict()) == list(ours.state_dict()), name
        conv.load_state_dict(ours.state_dict())
        parent, _, child = name.rpartition(".")
        setattr(twin.get_submodule(parent), child, conv)
    return twin.eval()


@pytest.fixture(scope="module")
def small_net() -> SPADEDecoder:
    return with_recipe_weights(SPADEDecoder(SMALL), seed=7)


@pytest.mark.golden
@pytest.mark.parametrize(
    "name", [pytest.param("d_spade_generator.npz", marks=pytest.mark.slow), "small/d_spade_generator.npz"]
)
def test_golden_image(name: str) -> None:
    case = load_case(name)
    net = with_recipe_weights(SPADEDecoder(SpadeConfig(**case.manifest()["config"])), case.weights_seed)
    feature = torch.from_numpy(case.linked_input("feature")).float()
    with torch.inference_mode():
        case.assert_close("out", net(feature), atol=1e-4)


@pytest.mark.parametrize("manifest_name", ["spade_generator.json", "small/spade_generator.json"])
def test_layout_matches_official_manifest(manifest_name: str) -> None:
    manifest = load_manifest(manifest_name)
    net = SPADEDecoder(SpadeConfig(**manifest["config"]))
    assert_matches_manifest(net, manifest)
    assert list(net.state_dict()) == list(manifest["entries"])
    assert sum(p.numel() for p in net.parameters()) == manifest["param_count"]
    # Spectral u/v are checkpoint buffers; the folded weights are not checkpoint state.
    parameter_names = {name for name, _ in net.named_parameters()}
    buffers = [v for k, v in net.state_dict().items() if k not in parameter_names]
    assert sum(b.numel() for b in buffers) == manifest["buffer_count"]


def test_folded_convs_equal_torch_spectral_norm_in_eval(small_net: SPADEDecoder) -> None:
    twin = _torch_spectral_norm_twin(small_net)
    feature = _feature(1)
    with torch.no_grad():
        torch.testing.assert_close(small_net(feature), twin(feature), rtol=0, atol=0)
    # torch's hook recomputes ``weight`` before each call; after one it holds the eval-mode value.
    for name, ours in _spectral_convs(small_net).items():
        torch.testing.assert_close(ours.weight, twin.get_submodule(name).weight, rtol=0, atol=0)


def test_forward_never_updates_u_v(small_net: SPADEDecoder) -> None:
    before = copy.deepcopy(small_net.state_dict())
    small_net.train()
    try:
        with torch.no_grad():
            small_net(_feature(1))
    finally:
        small_net.eval()
    for key, value in small_net.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_loading_a_state_dict_refolds() -> None:
    net = with_recipe_weights(SPADEDecoder(SMALL), seed=1)
    feature = _feature(1)
    with torch.inference_mode():
        first = net(feature)
    net.load_state_dict(recipe_state_dict(net, seed=2))
    reference = with_recipe_weights(SPADEDecoder(SMALL), seed=2)
    for name, conv in _spectral_convs(net).items():
        torch.testing.assert_close(conv.weight, reference.get_submodule(name).weight, rtol=0, atol=0)
    with torch.inference_mode():
        second = net(feature)
        torch.testing.assert_close(second, reference(feature), rtol=0, atol=0)
    assert not torch.allclose(first, second)


def test_batch_items_are_independent(small_net: SPADEDecoder) -> None:
    feature = _feature(2, seed=3)
    with torch.inference_mode():
        both = small_net(feature)
        assert both.shape == (2, 3, 64, 64)
        assert 0 <= both.min() and both.max() <= 1
        for i in range(2):
            torch.testing.assert_close(both[i : i + 1], small_net(feature[i : i + 1]), **BATCH_TOL)


def test_upscale_one_is_a_plain_output_conv() -> None:
    net = SPADEDecoder(SpadeConfig(upscale=1, block_expansion=8, max_features=64)).eval()
    assert {"conv_img.weight", "conv_img.bias"} <= set(net.state_dict())
    with torch.inference_mode():
        assert net(_feature(1)).shape == (1, 3, 32, 32)


@pytest.mark.parametrize("config", [SpadeConfig(upscale=4), SpadeConfig(num_down_blocks=0)])
def test_unsupported_configs_are_refused(config: SpadeConfig) -> None:
    with pytest.raises(ValueError, match="SpadeConfig"):
        SPADEDecoder(config)
