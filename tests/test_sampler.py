"""Window samplers: the exact official DDPM, the fast diffusers samplers, guidance, noise; golden f3."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler

from model.motion.noise import ExplicitNoise, SeededNoise
from model.motion.sampler import GuidedDenoiser, SamplerConfig, make_fast_scheduler, sample_window
from model.testweights.recipe import noise as recipe_noise
from tests.golden import load_case
from tests.motion_fixtures import tiny_generator
from tests.motion_weights import positional_encoding_of, recipe_motion_generator


def window_inputs(generator, seed: int = 5) -> dict[str, torch.Tensor]:
    """Random audio features and context for one window of ``generator``."""
    cfg = generator.config
    g = torch.Generator().manual_seed(seed)
    return {
        "audio_feat": torch.randn(1, cfg.n_motions, cfg.feature_dim, generator=g),
        "prev_motion": torch.randn(1, cfg.n_prev_motions, cfg.motion_feat_dim, generator=g),
        "prev_audio_feat": torch.randn(1, cfg.n_prev_motions, cfg.feature_dim, generator=g),
    }


def run(generator, config: SamplerConfig, noise=None, x_T=None, **kwargs) -> torch.Tensor:
    cfg = generator.config
    noise = SeededNoise(config.seed, "cpu") if noise is None else noise
    shape = (1, cfg.n_motions, cfg.motion_feat_dim)
    x_T = noise.initial(shape, torch.device("cpu")) if x_T is None else x_T
    with torch.inference_mode():
        return sample_window(generator, **window_inputs(generator), x_T=x_T, config=config, noise=noise, **kwargs)


class CallCounter:
    """Counts denoiser forward calls and records the steps it was given."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.steps: list[list[int]] = []
        self.handle = module.register_forward_pre_hook(self._hook)

    def _hook(self, _module, args) -> None:
        self.steps.append(args[4].tolist())

    def __enter__(self) -> CallCounter:
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()


@pytest.mark.parametrize("kind", ["ddim", "dpmsolver++"])
def test_fast_schedules_never_repeat_a_step_and_stay_finite(kind):
    """Every step count up to T gives strictly decreasing steps (a repeated one is a zero-length step: NaN)."""
    generator = tiny_generator(n_diff_steps=20)
    for num_steps in range(1, 21):
        scheduler = make_fast_scheduler(kind, generator.diffusion_sched.betas)
        scheduler.set_timesteps(num_steps)
        steps = scheduler.timesteps.tolist()
        assert len(steps) == num_steps and all(a > b for a, b in itertools.pairwise(steps)), (num_steps, steps)
    assert torch.isfinite(run(generator, SamplerConfig(kind=kind, num_steps=20, seed=0))).all()


@pytest.mark.parametrize("kind", ["ddim", "dpmsolver++"])
@pytest.mark.parametrize("num_steps", [1, 7, 25])
def test_fast_samplers_make_exactly_num_steps_denoiser_calls(kind, num_steps):
    generator = tiny_generator(n_diff_steps=500)
    with CallCounter(generator.denoising_net) as counter:
        out = run(generator, SamplerConfig(kind=kind, num_steps=num_steps, seed=0))
    assert len(counter.steps) == num_steps
    first = counter.steps[0]
    assert first == [500, 500], "fast samplers start at the last trained step, both CFG entries"
    assert all(len(s) == 2 and s[0] == s[1] and 1 <= s[0] <= 500 for s in counter.steps)
    assert [s[0] for s in counter.steps] == sorted((s[0] for s in counter.steps), reverse=True)
    assert out.shape == (1, 6, 5) and torch.isfinite(out).all()


def test_exact_sampler_runs_every_step_in_order():
    generator = tiny_generator(n_diff_steps=50)
    with CallCounter(generator.denoising_net) as counter:
        run(generator, SamplerConfig(seed=0))
    assert counter.steps == [[t, t] for t in range(50, 0, -1)]


@pytest.mark.parametrize("kind", ["ddpm", "ddim", "dpmsolver++"])
def test_seeds_are_reproducible(kind):
    generator = tiny_generator()
    a = run(generator, SamplerConfig(kind=kind, num_steps=None if kind == "ddpm" else 10, seed=3))
    b = run(generator, SamplerConfig(kind=kind, num_steps=None if kind == "ddpm" else 10, seed=3))
    c = run(generator, SamplerConfig(kind=kind, num_steps=None if kind == "ddpm" else 10, seed=4))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (a - c).abs().max() > 1e-3


def test_explicit_noise_is_honoured():
    generator = tiny_generator()
    g = torch.Generator().manual_seed(11)
    x_T = torch.randn(1, 6, 5, generator=g)
    table = {t: torch.randn(1, 6, 5, generator=g) for t in range(50, 1, -1)}
    calls = []

    def z(window: int, t: int) -> torch.Tensor:
        calls.append((window, t))
        return table[t]

    out = run(generator, SamplerConfig(), noise=ExplicitNoise(x_T, z), window=3)
    assert calls == [(3, t) for t in range(50, 1, -1)], "one z per step t = T..2, none at t = 1"
    # The same numbers from a seeded generator, drawn in the same order, give the same result.
    seeded = run(generator, SamplerConfig(seed=11))
    torch.testing.assert_close(out, seeded, rtol=0, atol=0)
    # Deterministic samplers depend on x_T only and draw no step noise.
    ddim = SamplerConfig(kind="ddim", num_steps=5)
    a = run(generator, ddim, noise=ExplicitNoise(x_T))
    b = run(generator, ddim, noise=ExplicitNoise(x_T + 1.0))
    assert (a - b).abs().max() > 1e-3
    torch.testing.assert_close(a, run(generator, ddim, noise=ExplicitNoise(x_T)), rtol=0, atol=0)
    with pytest.raises(ValueError, match="no z"):
        run(generator, SamplerConfig(), noise=ExplicitNoise(x_T))
    with pytest.raises(ValueError, match="shape"):
        ExplicitNoise(x_T).initial((1, 7, 5), torch.device("cpu"))


def official_sample(generator, audio_feat, prev_motion, prev_audio_feat, x_T, cfg_scale, z) -> torch.Tensor:
    """The official ``DitTalkingHead.sample`` loop (target 'sample', flexibility 0), written from the spec."""
    sched, net = generator.diffusion_sched, generator.denoising_net
    n_motions = audio_feat.shape[1]
    audio_in = torch.cat([generator.null_audio_feat.expand(1, n_motions, -1), audio_feat])
    x = x_T
    for t in range(len(sched.betas) - 1, 0, -1):
        noise = z(t) if t > 1 else torch.zeros_like(x)
        alpha, alpha_bar, alpha_bar_prev = sched.alphas[t], sched.alpha_bars[t], sched.alpha_bars[t - 1]
        sigma = sched.sigmas_flex[t] * 0 + sched.sigmas_inflex[t] * 1
        results = net(torch.cat([x, x]), audio_in, torch.cat([prev_motion] * 2), torch.cat([prev_audio_feat] * 2),
                      torch.tensor([t, t]))
        results = results[:1] + cfg_scale * (results[1:] - results[:1])
        c0 = (1 - alpha_bar_prev) * torch.sqrt(alpha) / (1 - alpha_bar)
        c1 = (1 - alpha) * torch.sqrt(alpha_bar_prev) / (1 - alpha_bar)
        x = c0 * x + c1 * results[:, -n_motions:] + sigma * noise
    return x


@pytest.mark.parametrize("precompute", [True, False], ids=["precomputed", "per-step"])
def test_exact_sampler_equals_the_official_update(precompute):
    generator = tiny_generator()
    inputs = window_inputs(generator)
    g = torch.Generator().manual_seed(2)
    x_T = torch.randn(1, 6, 5, generator=g)
    table = {t: torch.randn(1, 6, 5, generator=g) for t in range(2, 51)}
    with torch.inference_mode():
        config = SamplerConfig(cfg_scale=2.5, precompute_memory=precompute)
        noise = ExplicitNoise(x_T, lambda w, t: table[t])
        ours = sample_window(generator, **inputs, x_T=x_T, config=config, noise=noise)
        reference = official_sample(generator, **inputs, x_T=x_T, cfg_scale=2.5, z=table.__getitem__)
    torch.testing.assert_close(ours, reference, rtol=0, atol=2e-6)


def test_diffusers_ddpm_scheduler_agrees_up_to_float32_rounding():
    """DDPMScheduler (trained_betas = betas[1:], x0 target, fixed_small, step + 1) is the same sampler.

    It derives beta_t as 1 - abar_t / abar_{t-1}; in float32 that costs ~3 digits where beta_t ~ 1e-4,
    which is why the exact sampler computes the official coefficients from the buffers instead.
    Noise lines up: both draw x_T and then one z per step t > 1 from the generator.
    """
    generator = tiny_generator(n_diff_steps=500)
    inputs = window_inputs(generator)
    sched = generator.diffusion_sched
    scheduler = DDPMScheduler(num_train_timesteps=500, trained_betas=sched.betas[1:].double().numpy(),
                              prediction_type="sample", variance_type="fixed_small", clip_sample=False)
    scheduler.set_timesteps(500)
    g = torch.Generator().manual_seed(7)
    states = {}
    with torch.inference_mode():
        denoise = GuidedDenoiser(generator, **inputs, cfg_scale=2.8)
        x = torch.randn(1, 6, 5, generator=g)
        for tau in scheduler.timesteps.tolist():
            x = scheduler.step(denoise(x, torch.tensor([tau + 1])), tau, x, generator=g).prev_sample
            states[tau] = x
    ours = {}
    run(generator, SamplerConfig(seed=7), on_step=lambda k, state: ours.__setitem__(k, state))
    for k in (499, 400, 100):
        torch.testing.assert_close(ours[k], states[k], rtol=1e-4, atol=1e-4)
    for k in (10, 2, 1, 0):  # where beta_t ~ 1e-4: measured up to 7e-4 on states of magnitude ~5
        torch.testing.assert_close(ours[k], states[k], rtol=1e-3, atol=1e-3)


def test_guidance_batches_null_then_audio_with_shared_context():
    generator = tiny_generator()
    inputs = window_inputs(generator)
    net = generator.denoising_net
    x, step = torch.randn(1, 6, 5), torch.tensor([17])
    null = generator.null_audio_feat.expand(1, 6, -1)
    with torch.inference_mode():
        raw = GuidedDenoiser(generator, **inputs, cfg_scale=1.0).raw(x, step)
        for entry, audio in enumerate((null, inputs["audio_feat"])):
            direct = net(x, audio, inputs["prev_motion"], inputs["prev_audio_feat"], step)
            torch.testing.assert_close(raw[entry : entry + 1], direct, rtol=1e-5, atol=1e-6)
        for scale in (0.0, 1.0, 2.8):
            guided = GuidedDenoiser(generator, **inputs, cfg_scale=scale)(x, step)
            expected = raw[:1, -6:] + scale * (raw[1:, -6:] - raw[:1, -6:])
            torch.testing.assert_close(guided, expected, rtol=1e-5, atol=1e-6)


def test_config_validation():
    assert SamplerConfig().kind == "ddpm" and SamplerConfig().cfg_scale == 2.8
    assert SamplerConfig().steps_for(500) == 500
    assert SamplerConfig(kind="ddim").steps_for(500) == 25
    with pytest.raises(ValueError, match="unknown sampler"):
        SamplerConfig(kind="euler")
    with pytest.raises(ValueError, match="positive int"):
        SamplerConfig(kind="ddim", num_steps=0)
    with pytest.raises(ValueError, match="runs all 500 steps"):
        SamplerConfig(num_steps=50).steps_for(500)
    with pytest.raises(ValueError, match="exceeds"):
        SamplerConfig(kind="dpmsolver++", num_steps=60).steps_for(50)


def _call_argument(meta: dict, name: str) -> float:
    """A numeric keyword of the reference call recorded in ``meta['call']``."""
    match = re.search(rf"\b{name}=([-+0-9.e]+)", meta["call"])
    assert match, f"{name} not found in meta['call']: {meta['call']}"
    return float(match[1])


@pytest.mark.golden
@pytest.mark.slow
def test_golden_f3_sample_window():
    case = load_case("f3_sample_window.npz")
    generator = recipe_motion_generator(case.manifest(), case.weights_seed, positional_encoding_of(case.meta))
    base = int(case.meta["noise_base_S"])
    shape = case["motion_at_T"].shape
    noise = ExplicitNoise(torch.from_numpy(recipe_noise(shape, base)),
                          lambda window, t: torch.from_numpy(recipe_noise(shape, base + t)))
    case.assert_close("motion_at_T", noise.x_T, rtol=0, atol=0)
    for key in (k for k in case.arrays if re.fullmatch(r"z_t\d+", k)):
        case.assert_close(key, noise.z(0, int(key[3:])), rtol=0, atol=0)
    config = SamplerConfig(cfg_scale=_call_argument(case.meta, "cfg_scale"))

    audio = torch.from_numpy(case["audio"])
    with torch.inference_mode():
        case.assert_close("audio_feat", generator.extract_audio_feature(audio))
    audio_feat = torch.from_numpy(case["audio_feat"])  # the stored input isolates the sampler
    context = {"prev_motion": generator.start_motion_feat, "prev_audio_feat": generator.start_audio_feat}
    first_step = torch.tensor([len(generator.diffusion_sched.betas) - 1])
    with torch.inference_mode():
        case.assert_close("denoiser_in_t500", torch.cat([noise.x_T, noise.x_T]), rtol=0, atol=0)
        for precompute in (True, False):
            denoise = GuidedDenoiser(generator, audio_feat, **context, cfg_scale=config.cfg_scale,
                                     precompute_memory=precompute)
            case.assert_close("denoiser_out_t500", denoise.raw(noise.x_T, first_step))

        trajectory = {len(generator.diffusion_sched.betas) - 1: noise.x_T}
        out = sample_window(generator, audio_feat, **context, x_T=noise.x_T, config=config, noise=noise,
                            on_step=lambda k, x: trajectory.__setitem__(k, x))
    traj_keys = [k for k in case.arrays if k.startswith("traj_")]
    assert traj_keys
    for key in traj_keys:
        case.assert_close(key, trajectory[int(key[5:])], rtol=1e-4, atol=1e-4)
    case.assert_close("motion_0", out, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(trajectory[0].numpy(), out.numpy())
