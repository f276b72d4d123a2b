"""The denoising transformer (fast affine cross-attention vs the stock decoder), its tables, golden f2."""

from __future__ import annotations

import importlib.util
import math
import re

import numpy as np
import pytest
import torch

from model.motion.denoiser import DenoisingNetwork, diagonal_alignment_mask, sinusoidal_table
from model.motion.schedule import DiffusionSchedule
from tests.golden import load_case
from tests.motion_weights import positional_encoding_of, recipe_motion_generator

M, D, L, P, N_LAYERS = 5, 32, 6, 2, 2


def tiny_net(**options) -> DenoisingNetwork:
    torch.manual_seed(0)
    return DenoisingNetwork(M, D, L, P, n_heads=4, n_layers=N_LAYERS, **options).eval()


def tiny_inputs(batch: int, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "motion": torch.randn(batch, L, M, generator=g),
        "audio_feat": torch.randn(batch, L, D, generator=g),
        "prev_motion": torch.randn(batch, P, M, generator=g),
        "prev_audio_feat": torch.randn(batch, P, D, generator=g),
        "step": torch.randint(1, 501, (batch,), generator=g),
    }


@pytest.mark.parametrize("pe", ["legacy", "fixed"])
def test_affine_cross_attention_equals_the_stock_decoder(pe):
    net, x = tiny_net(positional_encoding=pe), tiny_inputs(3)
    with torch.no_grad():
        fast = net(**x)
        net.affine_cross_attention = False
        stock = net(**x)
    assert fast.shape == (3, P + L, M)
    torch.testing.assert_close(fast, stock, rtol=1e-5, atol=1e-6)


def test_precomputed_memory_terms_are_reused_across_steps_and_batches():
    net, x = tiny_net(), tiny_inputs(2)
    with torch.no_grad():
        terms = net.precompute_memory(x["prev_audio_feat"], x["audio_feat"])
        assert terms.shape == (N_LAYERS, 2, P + L, D)
        for step in (1, 250, 500):
            steps = torch.full((2,), step)
            direct = net(x["motion"], x["audio_feat"], x["prev_motion"], x["prev_audio_feat"], steps)
            reused = net(x["motion"], None, x["prev_motion"], None, steps, memory_terms=terms)
            torch.testing.assert_close(reused, direct, rtol=0, atol=0)
        halves = [net.precompute_memory(x["prev_audio_feat"][i : i + 1], x["audio_feat"][i : i + 1]) for i in (0, 1)]
        torch.testing.assert_close(torch.cat(halves, dim=1), terms, rtol=1e-6, atol=1e-7)


def test_memory_terms_are_checked():
    net, x = tiny_net(), tiny_inputs(2)
    terms = net.precompute_memory(x["prev_audio_feat"], x["audio_feat"])
    with pytest.raises(ValueError, match="memory_terms shape"):
        net(x["motion"][:1], None, x["prev_motion"][:1], None, x["step"][:1], memory_terms=terms)
    net.affine_cross_attention = False
    with pytest.raises(ValueError, match="disabled"):
        net(x["motion"], None, x["prev_motion"], None, x["step"], memory_terms=terms)


def test_positional_encodings():
    """Legacy adds the one row pe[P + L] to every token; fixed adds rows 0..P+L-1."""
    x = tiny_inputs(1)
    tokens = {}
    for pe in ("legacy", "fixed"):
        net = tiny_net(positional_encoding=pe)
        with torch.no_grad():
            tokens[pe] = net.embed_tokens(x["motion"], x["prev_motion"], x["step"])
    table = net.PE.pe[0]
    difference = tokens["legacy"][0] - tokens["fixed"][0]
    torch.testing.assert_close(difference, table[P + L] - table[: P + L], rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="positional_encoding"):
        tiny_net(positional_encoding="learned")
    with pytest.raises(ValueError, match="positional_encoding"):
        tiny_net().positional_encoding = "learned"


def test_non_diagonal_mask_falls_back_to_full_attention():
    net, x = tiny_net(), tiny_inputs(2)
    state = net.state_dict()
    wide = diagonal_alignment_mask(P + L)
    wide[1:, :-1] &= ~torch.eye(P + L - 1, dtype=torch.bool)  # also allow memory i - 1
    state["alignment_mask"] = wide
    with pytest.warns(UserWarning, match="not the official diagonal"):
        net.load_state_dict(state)
    assert not net.affine_cross_attention
    with pytest.raises(ValueError, match="not diagonal"):
        net.affine_cross_attention = True
    with torch.no_grad():
        assert torch.isfinite(net(**x)).all()


def test_attention_backends():
    with pytest.raises(ValueError, match="unknown attention backend"):
        tiny_net(attention_backend="flash3")
    if importlib.util.find_spec("xformers") is None:
        with pytest.raises(ImportError, match="xformers is not installed"):
            tiny_net(attention_backend="xformers")
        with pytest.raises(ImportError, match="xformers is not installed"):
            tiny_net().attention_backend = "xformers"
    else:
        net = tiny_net(attention_backend="xformers")
        with pytest.raises(RuntimeError, match="only on CUDA"):
            net(**tiny_inputs(1))


def test_sinusoidal_table_and_mask():
    table = sinusoidal_table(600, 16)[0].double().numpy()
    position = np.arange(600)[:, None]
    frequency = np.exp(-np.arange(0, 16, 2) * math.log(10000.0) / 16)
    np.testing.assert_allclose(table[:, 0::2], np.sin(position * frequency), atol=2e-4)
    np.testing.assert_allclose(table[:, 1::2], np.cos(position * frequency), atol=2e-4)
    mask = diagonal_alignment_mask(4)
    assert mask.dtype == torch.bool and not mask.diagonal().any() and mask.sum() == 12


def test_cosine_schedule():
    for n_steps, beta_1 in ((50, 0.001747), (500, 1e-4)):
        sched = DiffusionSchedule(n_steps)
        assert sched.betas.shape == (n_steps + 1,) and sched.betas[0] == 0 and sched.sigmas_inflex[0] == 0
        assert sched.betas[1].item() == pytest.approx(beta_1, rel=1e-3)
        assert sched.betas[-1].item() == pytest.approx(0.999)
        torch.testing.assert_close(sched.alpha_bars, torch.cumprod(sched.alphas.double(), 0).float(), rtol=1e-4, atol=0)
        expected = (sched.betas[1:] * (1 - sched.alpha_bars[:-1]) / (1 - sched.alpha_bars[1:])).sqrt()
        torch.testing.assert_close(sched.sigmas_inflex[1:], expected)
    assert DiffusionSchedule(500).alpha_bars[-1].item() == pytest.approx(9.7e-9, rel=0.01)


def _golden_calls(case) -> dict[str, tuple[torch.Tensor, bool]]:
    """Output key -> (steps, uses the stored previous features), from the file's key names."""
    batch = case["motion_feat"].shape[0]
    calls = {}
    for key in case.arrays:
        match = re.fullmatch(r"out_(t(\d+)|mixed)_(prev|noprev)", key)
        if match and match[1] == "mixed":
            calls[key] = (torch.from_numpy(case["steps_mixed"]), match[3] == "prev")
        elif match:
            calls[key] = (torch.full((batch,), int(match[2])), match[3] == "prev")
    return calls


@pytest.mark.golden
@pytest.mark.slow
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "stock"])
@pytest.mark.parametrize("name", ["f2_denoiser.npz", "f2_denoiser_legacy_pe.npz"])
def test_golden_f2_denoiser(name, affine):
    case = load_case(name)
    model = recipe_motion_generator(case.manifest(), case.weights_seed, positional_encoding_of(case.meta))
    model.denoising_net.affine_cross_attention = affine
    names = ("motion_feat", "audio_feat", "prev_motion_feat", "prev_audio_feat")
    inputs = {k: torch.from_numpy(case[k]) for k in names}
    batch = inputs["motion_feat"].shape[0]
    calls = _golden_calls(case)
    assert calls, f"{name}: no outputs found"
    with torch.no_grad():
        for key, (steps, with_prev) in calls.items():
            prev_motion = inputs["prev_motion_feat"] if with_prev else model.start_motion_feat.expand(batch, -1, -1)
            prev_audio = inputs["prev_audio_feat"] if with_prev else model.start_audio_feat.expand(batch, -1, -1)
            out = model.denoising_net(inputs["motion_feat"], inputs["audio_feat"], prev_motion, prev_audio, steps)
            case.assert_close(key, out)
