"""Sampling one window of motion from the denoiser: the exact official sampler and fast ones.

``ddpm`` reproduces the official ``DitTalkingHead.sample`` (spec §3.1): all T ancestral steps with
the x0 target, x_{t-1} = c0 x_t + c1 x0_hat + sigma_inflex(t) z (z = 0 at t = 1). ``ddim`` (eta 0)
and ``dpmsolver++`` (order 2) are deterministic diffusers samplers over ``num_steps`` steps on the
same schedule. Every step makes one denoiser call at batch 2, ``[null audio, real audio]`` for the
current window with identical context, and guides the last L outputs:
x0_hat = r_null + s (r_cond - r_null).

The schedule comes from the checkpoint's buffers. The fast samplers are diffusers schedulers
given ``trained_betas = betas[1:]``; their timestep tau is the official step t = tau + 1, which is
what the network is given. The exact sampler computes the official posterior coefficients from
the buffers itself: diffusers' DDPM step derives beta_t as 1 - abar_t / abar_{t-1}, which in
float32 loses three digits where beta_t ~ 1e-4 and puts the late states (t <= 2) about 6e-4 away
from the official ones (the test suite checks the two agree up to that rounding).

Nothing in the step loop reads a device value back to the host: step indices and coefficients
are host numbers or device tensors prepared before the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

from model.motion.generator import MotionGenerator
from model.motion.noise import NoiseSource
from model.motion.schedule import DiffusionSchedule
from model.validation import Range, check_number

SamplerKind = Literal["ddpm", "ddim", "dpmsolver++"]
SAMPLER_KINDS: tuple[SamplerKind, ...] = ("ddpm", "ddim", "dpmsolver++")
#: Steps of the fast samplers when none are given.
DEFAULT_FAST_STEPS = 25
#: Guidance scale of the official command line (the official Gradio UI uses 4.0), and the accepted range.
DEFAULT_CFG_SCALE = 2.8
GUIDANCE_RANGE = Range(0.0, 10.0)
#: Seeds accepted everywhere (command line, Python, every endpoint of the demo).
SEED_RANGE = Range(0, 2**31 - 1)

#: Called after every update with (official step index of the new state, new state (1, L, m)).
StepCallback = Callable[[int, torch.Tensor], None]


@dataclass(frozen=True)
class SamplerConfig:
    """How to sample.

    kind: ``ddpm`` (exact official, all T steps), ``ddim`` or ``dpmsolver++``.
    num_steps: steps of the fast samplers (None: 25); ``ddpm`` accepts only None or T.
    cfg_scale: classifier-free guidance scale s on the audio condition.
    seed: seeds the device generator (None: a fresh random run, as the official code).
    precompute_memory: compute the cross-attention terms once per window instead of at every step
    (exact; used whenever the denoiser's affine cross-attention path is enabled).
    """

    kind: SamplerKind = "ddpm"
    num_steps: int | None = None
    cfg_scale: float = DEFAULT_CFG_SCALE
    seed: int | None = None
    precompute_memory: bool = True

    def __post_init__(self) -> None:
        if self.kind not in SAMPLER_KINDS:
            raise ValueError(f"unknown sampler kind {self.kind!r}; choose one of {SAMPLER_KINDS}")
        if self.num_steps is not None and (not isinstance(self.num_steps, int) or self.num_steps < 1):
            raise ValueError(f"num_steps must be a positive int or None, got {self.num_steps!r}")
        check_number("guidance scale", self.cfg_scale, GUIDANCE_RANGE)
        if self.seed is not None:
            check_number("seed", self.seed, SEED_RANGE, integer=True)

    def steps_for(self, n_diff_steps: int) -> int:
        """Number of denoiser evaluations per window for a model trained with ``n_diff_steps`` steps."""
        if self.kind == "ddpm":
            if self.num_steps not in (None, n_diff_steps):
                raise ValueError(
                    f"the exact 'ddpm' sampler runs all {n_diff_steps} steps (got num_steps={self.num_steps}); "
                    "use kind='ddim' or 'dpmsolver++' for fewer steps"
                )
            return n_diff_steps
        steps = DEFAULT_FAST_STEPS if self.num_steps is None else self.num_steps
        if steps > n_diff_steps:
            raise ValueError(f"num_steps={steps} exceeds the model's {n_diff_steps} diffusion steps")
        return steps


class GuidedDenoiser:
    """The guided x0 estimate for one window: fixed audio and context, varying noisy motion and step.

    audio_feat (1, L, d), prev_motion (1, P, m), prev_audio_feat (1, P, d). The CFG batch is
    ``[null_audio_feat broadcast to (1, L, d), audio_feat]``; the context is the same in both.
    """

    def __init__(
        self,
        generator: MotionGenerator,
        audio_feat: torch.Tensor,
        prev_motion: torch.Tensor,
        prev_audio_feat: torch.Tensor,
        cfg_scale: float,
        precompute_memory: bool = True,
    ) -> None:
        self.net = generator.denoising_net
        self.n_motions = audio_feat.shape[1]
        self.cfg_scale = float(cfg_scale)
        null = generator.null_audio_feat.expand(1, self.n_motions, -1)
        self.audio_in = torch.cat([null, audio_feat])
        self.prev_audio_in = torch.cat([prev_audio_feat, prev_audio_feat])
        self.prev_motion_in = torch.cat([prev_motion, prev_motion])
        self.memory_terms = None
        if precompute_memory and self.net.affine_cross_attention:
            self.memory_terms = self.net.precompute_memory(self.prev_audio_in, self.audio_in)

    def raw(self, x_t: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """Network output (2, P + L, m) for x_t (1, L, m) at official step ``step`` (a (1,) int64 tensor)."""
        motion_in = torch.cat([x_t, x_t])
        step_in = step.expand(2)
        if self.memory_terms is not None:
            return self.net(motion_in, None, self.prev_motion_in, None, step_in, memory_terms=self.memory_terms)
        return self.net(motion_in, self.audio_in, self.prev_motion_in, self.prev_audio_in, step_in)

    def __call__(self, x_t: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """Guided x0 estimate (1, L, m)."""
        out = self.raw(x_t, step)[:, -self.n_motions :]
        r_null, r_cond = out[:1], out[1:]
        return r_null + self.cfg_scale * (r_cond - r_null)


FastSamplerKind = Literal["ddim", "dpmsolver++"]
#: (step index i, guided x0 estimate, state) -> next state.
UpdateRule = Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor]


def make_fast_scheduler(kind: FastSamplerKind, betas: torch.Tensor) -> DDIMScheduler | DPMSolverMultistepScheduler:
    """A fresh diffusers scheduler (they keep state) on the checkpoint's (T + 1,) betas with the padded beta_0."""
    common = dict(
        num_train_timesteps=len(betas) - 1,
        trained_betas=betas[1:].detach().cpu().double().numpy(),
        prediction_type="sample",
    )
    # 'trailing' starts at the last trained step, the only one where x_T ~ N(0, I) is right; DPM-Solver's
    # default 'linspace' rounding also repeats a timestep when num_steps == T (a zero-length step: NaN).
    if kind == "ddim":
        return DDIMScheduler(**common, clip_sample=False, set_alpha_to_one=True, timestep_spacing="trailing")
    if kind == "dpmsolver++":
        return DPMSolverMultistepScheduler(
            **common, algorithm_type="dpmsolver++", solver_order=2, timestep_spacing="trailing"
        )
    raise ValueError(f"no fast scheduler named {kind!r}")


def official_update(
    sched: DiffusionSchedule, steps: list[int], noise: NoiseSource, window: int
) -> UpdateRule:
    """The official ancestral step (x0 target, flexibility 0) at official steps ``steps[i]``.

    x_{t-1} = c0 x_t + c1 x0_hat + sigma_inflex(t) z, with c0 = (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t),
    c1 = (1 - alpha_t) sqrt(abar_{t-1}) / (1 - abar_t), z = 0 at t = 1; float32 ops in the official order.
    """
    alphas, alpha_bars = sched.alphas[1:], sched.alpha_bars[1:]
    alpha_bars_prev = sched.alpha_bars[:-1]
    # Index t - 1 holds the coefficients of step t; computed once, read as device scalars.
    c0 = (1 - alpha_bars_prev) * torch.sqrt(alphas) / (1 - alpha_bars)
    c1 = (1 - alphas) * torch.sqrt(alpha_bars_prev) / (1 - alpha_bars)

    def update(i: int, x0_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        t = steps[i]
        mean = c0[t - 1] * x + c1[t - 1] * x0_hat
        if t == 1:
            return mean
        return mean + sched.sigmas_inflex[t] * noise.step(window, t, tuple(x.shape), x.device)

    return update


def sample_window(
    generator: MotionGenerator,
    audio_feat: torch.Tensor,
    prev_motion: torch.Tensor,
    prev_audio_feat: torch.Tensor,
    x_T: torch.Tensor,
    config: SamplerConfig,
    noise: NoiseSource,
    window: int = 0,
    on_step: StepCallback | None = None,
) -> torch.Tensor:
    """Sample one window of normalised motion (1, L, m).

    audio_feat (1, L, d) current window; prev_motion (1, P, m) and prev_audio_feat (1, P, d) its
    context; x_T (1, L, m) the initial state; ``noise`` supplies the ancestral step noise (``ddpm``
    only), indexed by ``window``. ``on_step`` sees every intermediate state (see :data:`StepCallback`).
    Call under ``torch.inference_mode()`` with the generator in eval mode.
    """
    sched = generator.diffusion_sched
    n_train_steps = len(sched.betas) - 1
    n_steps = config.steps_for(n_train_steps)
    denoise = GuidedDenoiser(
        generator, audio_feat, prev_motion, prev_audio_feat, config.cfg_scale, config.precompute_memory
    )
    if config.kind == "ddpm":
        steps = list(range(n_train_steps, 0, -1))
        update = official_update(sched, steps, noise, window)
    else:
        scheduler = make_fast_scheduler(config.kind, sched.betas)
        scheduler.set_timesteps(n_steps)
        steps = [tau + 1 for tau in scheduler.timesteps.tolist()]

        def update(i: int, x0_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            return scheduler.step(x0_hat, steps[i] - 1, x).prev_sample

    # One host-to-device copy per window; the loop only slices it.
    model_steps = torch.tensor(steps, dtype=torch.int64, device=x_T.device)
    next_steps = [*steps[1:], 0]
    x = x_T
    for i in range(n_steps):
        x = update(i, denoise(x, model_steps[i : i + 1]), x)
        if on_step is not None:
            on_step(next_steps[i], x)
    return x
