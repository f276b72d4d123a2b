"""Training the motion generator: ``python -m model.train fit --data DATA --out RUN`` (one process or torchrun).

The loop of the official train.py (spec joyvasa.md §7.3) around :func:`model.train.step.train_step`: Adam, the
global-norm clip, checkpoints every N steps in the official format (``RUN/checkpoints/iter_{it:07d}.pt``, loadable
by this project's inference and the official loader) beside the optimiser and random states for ``--resume``,
validation on the test split with the training losses and motion metrics viewers notice (lip-keypoint error,
velocity and acceleration error), logged to ``RUN/metrics.jsonl`` and TensorBoard (when installed). Options over
the official: a weight EMA, bfloat16 autocast, the per-clip expression loss (see :mod:`model.train.objective`).

Many processes: under ``torchrun`` every rank takes its share of each global batch (the same draws, sliced), the
model is wrapped in DistributedDataParallel (NCCL on GPUs, Gloo on CPUs), rank 0 alone writes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from transformers import HubertConfig

from model.motion.checkpoint import load_motion_generator, save_motion_generator
from model.motion.denoiser import PositionalEncodingMode
from model.motion.generate import generate_motion
from model.motion.generator import MotionGenerator, MotionGeneratorConfig
from model.motion.sampler import SamplerConfig
from model.render.keypoints import LIP_KEYPOINTS
from model.train.data import ClipDataset, raw_motion
from model.train.step import StepDraws, TrainingObjective, disable_dropout, prepare_for_training, step_forward

log = logging.getLogger(__name__)

#: Generator sizes: ``full`` = the released network, ``small`` = ``make-test-weights --size small``.
SIZES: dict[str, tuple[dict, dict]] = {
    "full": ({"motion_feat_dim": 70, "n_motions": 100, "n_prev_motions": 10, "feature_dim": 512,
              "audio_model": "hubert_zh", "n_diff_steps": 500}, {}),
    "small": ({"motion_feat_dim": 70, "n_motions": 100, "n_prev_motions": 10, "feature_dim": 32,
               "audio_model": "hubert_zh", "n_diff_steps": 50},
              {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
               "conv_dim": [16] * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4}),
}
#: The checkpoint args besides the sizes (those of the released generator; the official loader reads them).
CHECKPOINT_ARGS = {"diff_schedule": "cosine", "target": "sample", "fps": 25, "pad_mode": "zero",
                   "use_indicator": True, "architecture": "decoder", "guiding_conditions": "audio,",
                   "cfg_mode": "incremental", "n_heads": 8, "n_layers": 8, "mlp_ratio": 4, "align_mask_width": 1,
                   "no_use_learnable_pe": True}
CHECKPOINTS = "checkpoints"
HUBERT_CONFIG = "hubert_config.json"
METRICS_FILE = "metrics.jsonl"


@dataclass(frozen=True)
class FitConfig:
    """A training run. Defaults are the official train.py's (batch 16, Adam 1e-4, 50,000 steps, a checkpoint
    every 1000, validation every 50) except ``positional_encoding``: upstream HEAD trains with ``fixed`` (each
    token its own row), which the official code fixed after the released weights (``legacy``)."""

    size: Literal["full", "small"] = "full"
    max_steps: int = 50_000
    batch_size: int = 16
    lr: float = 1e-4
    save_every: int = 1000
    val_every: int = 50
    val_items: int = 4
    seed: int = 0
    positional_encoding: PositionalEncodingMode = "fixed"
    ema_decay: float | None = None
    bf16: bool = False
    dropout: bool = True
    init: Path | None = None
    hubert_config: Path | None = None
    objective: TrainingObjective = field(default_factory=TrainingObjective)

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ValueError(f"size must be one of {', '.join(SIZES)}; got {self.size!r}")
        for name in ("max_steps", "batch_size", "save_every", "val_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError("the EMA decay must be between 0 and 1 (e.g. 0.999)")


def checkpoint_args(model: MotionGenerator) -> dict:
    """The checkpoint's ``args``: the model's sizes and the released generator's other fields."""
    c = model.config
    return {**CHECKPOINT_ARGS, "motion_feat_dim": c.motion_feat_dim, "n_motions": c.n_motions,
            "n_prev_motions": c.n_prev_motions, "feature_dim": c.feature_dim, "audio_model": c.audio_model,
            "n_diff_steps": c.n_diff_steps, "positional_encoding": model.denoising_net.positional_encoding}


def build_model(config: FitConfig, seed: int) -> MotionGenerator:
    """A trainable generator: from ``config.init`` (an official-format checkpoint) or freshly initialised."""
    if config.init is not None:
        model = load_motion_generator(config.init, config.hubert_config, pe=config.positional_encoding)
    else:
        args, hubert = SIZES[config.size]
        torch.manual_seed(seed)
        model = MotionGenerator(MotionGeneratorConfig.from_args(args), HubertConfig(**hubert),
                                positional_encoding=config.positional_encoding)
        with torch.no_grad():  # the official start tokens are N(0, 1), not zeros
            for token in (model.start_audio_feat, model.start_motion_feat, model.null_audio_feat):
                token.normal_()
    return prepare_for_training(model)


class _Step(nn.Module):
    """The iteration as a module, so DistributedDataParallel sees it as the forward it wraps."""

    def __init__(self, model: MotionGenerator, objective: TrainingObjective, bf16: bool) -> None:
        super().__init__()
        self.model, self.objective, self.bf16 = model, objective, bf16

    def forward(self, audio: tuple[torch.Tensor, torch.Tensor], motion: tuple[torch.Tensor, torch.Tensor],
                draws: StepDraws) -> dict[str, torch.Tensor]:
        device_type = next(self.model.parameters()).device.type
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=self.bf16):
            return step_forward(self.model, audio, motion, draws, self.objective).losses


def _shard(draws: StepDraws, rank: int, world: int) -> StepDraws:
    return StepDraws(tuple(dataclasses.replace(
        clip, end_idx=clip.end_idx[rank::world], null_audio=clip.null_audio[rank::world], t=clip.t[rank::world],
        eps=clip.eps[rank::world]) for clip in draws.clips))


def _checkpoint_path(run: Path, step: int) -> Path:
    return run / CHECKPOINTS / f"iter_{step:07d}.pt"


def latest_checkpoint(run: Path) -> Path | None:
    """The newest checkpoint of ``run`` with its training state (None when there is none)."""
    done = sorted(p for p in (run / CHECKPOINTS).glob("iter_*.pt") if p.with_suffix(".state").is_file())
    return done[-1] if done else None


def motion_metrics(model: MotionGenerator, dataset: ClipDataset, items: int, seed: int) -> dict[str, float]:
    """Sampled motion against the ground truth on up to ``items`` test clips (first 8 s each, DDIM 10 steps,
    guidance 4, no smoothing): mean absolute lip-keypoint error, velocity and acceleration error (raw units)."""
    errors = {"lip": [], "velocity": [], "acceleration": []}
    was_training = model.training
    model.eval()
    lips = [3 * k + axis for k in LIP_KEYPOINTS for axis in range(3)]
    for index in range(min(items, len(dataset))):
        clip = dataset.clips[index]
        frames = min(len(clip["exp"]), 8 * 25)
        audio = torch.from_numpy(clip["audio"][: frames * 640])
        sampler = SamplerConfig(kind="ddim", num_steps=10, cfg_scale=4.0, seed=seed)
        sampled = generate_motion(model, dataset.template, audio, sampler, smooth=False)
        pred = np.concatenate([sampled.exp.reshape(len(sampled), -1), sampled.pose()[:, :]], axis=1)
        gt = raw_motion(clip)
        n = min(len(pred), len(gt), frames)
        pred, gt = pred[:n], gt[:n]
        errors["lip"].append(float(np.abs(pred[:, lips] - gt[:, lips]).mean()))
        errors["velocity"].append(float(np.abs(np.diff(pred, axis=0) - np.diff(gt, axis=0)).mean()))
        errors["acceleration"].append(float(np.abs(np.diff(pred, 2, axis=0) - np.diff(gt, 2, axis=0)).mean()))
    model.train(was_training)
    return {f"val/{k}_error": float(np.mean(v)) for k, v in errors.items()}


@torch.no_grad()
def validation_losses(model: MotionGenerator, dataset: ClipDataset, config: FitConfig, seed: int) -> dict[str, float]:
    """The training losses on the test split (fixed draws per validation, eval mode)."""
    was_training = model.training
    model.eval()
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    indices = list(range(min(len(dataset), config.batch_size)))
    audio, motion = dataset.batch(indices, rng)
    draws = StepDraws.sample(model, len(indices), config.objective, generator)
    losses = step_forward(model, audio, motion, draws, config.objective).losses
    model.train(was_training)
    return {f"val/{k}": float(v) for k, v in losses.items()}


class _Log:
    """metrics.jsonl, and TensorBoard when its package is installed."""

    def __init__(self, run: Path) -> None:
        self.path = run / METRICS_FILE
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.board = None
            log.info("tensorboard is not installed: metrics go to %s only", self.path)
        else:
            self.board = SummaryWriter(str(run / "tensorboard"))

    def write(self, step: int, values: dict[str, float]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, **values}) + "\n")
        if self.board is not None:
            for key, value in values.items():
                self.board.add_scalar(key, value, step)

    def close(self) -> None:
        if self.board is not None:
            self.board.close()


def fit(data: Path, run: Path, config: FitConfig = FitConfig(), resume: bool = False,
        device: str | None = None) -> list[dict[str, float]]:
    """Train; returns the logged training records (rank 0; other ranks an empty list)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if world > 1:
        if device == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    if config.batch_size % world:
        raise ValueError(f"the batch size {config.batch_size} must divide among {world} processes")
    run = Path(run)
    train_set = ClipDataset(data, "train")
    test_set = ClipDataset(data, "test")
    state_path = latest_checkpoint(run) if resume else None
    if resume and state_path is None:
        raise FileNotFoundError(f"{run}: no checkpoint with its training state to resume from")
    if state_path is not None:  # the run's own audio-encoder architecture, written when it started
        config = dataclasses.replace(config, init=state_path, hubert_config=run / HUBERT_CONFIG)
    model = build_model(config, config.seed).to(device)
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        model.audio_encoder.config.to_json_file(str(run / HUBERT_CONFIG))
    if not config.dropout:  # after the config is written: it records the architecture and the official rates
        disable_dropout(model)
    # Dropout and LayerDrop draw from torch's global generator, SpecAugment from numpy's: seeded per process.
    torch.manual_seed(config.seed * 1009 + rank)
    np.random.seed(config.seed * 1009 + rank)  # noqa: NPY002
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()} if config.ema_decay else None
    start = 0
    if state_path is not None:
        state = torch.load(state_path.with_suffix(".state"), map_location=device, weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        rng.bit_generator.state = json.loads(state["numpy_rng"])
        ema = state.get("ema") or ema
        start = int(state["step"])
        torch.set_rng_state(state["torch_rng"])  # dropout, LayerDrop
        if device == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu())
        kind, keys, position, has_gauss, cached = json.loads(state["numpy_global_rng"])
        # transformers' SpecAugment draws from numpy's global generator
        np.random.set_state((kind, np.array(keys, np.uint32), position, has_gauss, cached))  # noqa: NPY002
    step_module = _Step(model, config.objective, config.bf16)
    wrapped = step_module if world == 1 else nn.parallel.DistributedDataParallel(step_module,
                                                                                 find_unused_parameters=True)
    logbook = _Log(run) if rank == 0 else None
    (run / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
    records: list[dict[str, float]] = []
    began = time.perf_counter()
    for step in range(start + 1, config.max_steps + 1):
        # The global batch is the same in every process (and with any number of them); each takes its share.
        indices = rng.integers(0, len(train_set), config.batch_size).tolist()
        draws = StepDraws.sample(model, config.batch_size, config.objective, generator)
        audio, motion = train_set.batch(indices, np.random.default_rng([config.seed, step]))
        audio, motion = (tuple(x[rank::world].to(device) for x in pair) for pair in (audio, motion))
        optimizer.zero_grad(set_to_none=True)
        losses = wrapped(audio, motion, _shard(draws, rank, world))
        losses["total"].backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), config.objective.clip_grad or float("inf"))
        optimizer.step()
        if ema is not None:
            with torch.no_grad():
                for key, value in model.state_dict().items():
                    if value.dtype.is_floating_point:
                        ema[key].mul_(config.ema_decay).add_(value, alpha=1 - config.ema_decay)
        record = {f"train/{k}": float(v.detach()) for k, v in losses.items()}
        record.update({"train/grad_norm": float(norm), "train/seconds_per_step": (time.perf_counter() - began) /
                       (step - start)})
        if step % config.val_every == 0 or step == config.max_steps:
            # Validation leaves the training's random streams as they were: a run is the same with or without it.
            numpy_state = np.random.get_state()  # noqa: NPY002 (SpecAugment's generator)
            with torch.random.fork_rng(devices=[torch.cuda.current_device()] if device == "cuda" else []):
                record.update(validation_losses(model, test_set, config, config.seed))
                if rank == 0:
                    record.update(motion_metrics(model, test_set, config.val_items, config.seed))
            np.random.set_state(numpy_state)  # noqa: NPY002
        if rank == 0:
            assert logbook is not None
            logbook.write(step, record)
            records.append({"step": step, **record})
            if step % config.save_every == 0 or step == config.max_steps:
                _save(run, step, model, optimizer, generator, rng, ema)
    if logbook is not None:
        logbook.close()
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return records


def _save(run: Path, step: int, model: MotionGenerator, optimizer: torch.optim.Optimizer,
          generator: torch.Generator, rng: np.random.Generator, ema: dict[str, torch.Tensor] | None) -> Path:
    """The official checkpoint, then (beside it) what --resume needs; with an EMA, its weights as a second
    official checkpoint (``iter_..._ema.pt``)."""
    path = _checkpoint_path(run, step)
    args = checkpoint_args(model)
    save_motion_generator(model, args, path, iteration=step)
    if ema is not None:
        save_motion_generator(ema, args, path.with_name(f"{path.stem}_ema.pt"), iteration=step)
    kind, keys, position, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (SpecAugment's generator)
    state = {"optimizer": optimizer.state_dict(), "generator": generator.get_state(), "step": step,
             "numpy_rng": json.dumps(rng.bit_generator.state), "ema": ema, "torch_rng": torch.get_rng_state(),
             "numpy_global_rng": json.dumps([kind, keys.tolist(), position, has_gauss, cached]),
             "cuda_rng": torch.cuda.get_rng_state() if torch.cuda.is_available() and torch.cuda.is_initialized()
             else None}
    partial = path.with_suffix(".state.partial")
    torch.save(state, partial)
    partial.replace(path.with_suffix(".state"))
    return path
