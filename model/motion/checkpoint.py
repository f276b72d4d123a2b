"""Reading and writing the official motion generator checkpoint (``{'args', 'model', 'iter'}``).

The official loader (``src/utils/helper.py::load_model``) unpickles with code execution allowed,
pops ``denoising_net.TE.pe`` and loads the rest with ``strict=False``, so misnamed keys are
skipped silently. Here the file is read with ``weights_only=True`` (only ``argparse.Namespace``
and ``pathlib`` paths allowed besides tensors), and every checkpoint key must be consumed:
only the tables the module computes itself may be absent from the file.
"""

from __future__ import annotations

import argparse
import os
import pathlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from model.audio.encoder import load_encoder_config
from model.checkpoint import (
    MOTION_GENERATOR_GLOBALS,
    CheckpointError,
    as_state_dict,
    load_state_dict_checked,
    read_checkpoint,
)
from model.motion.denoiser import (
    N_POSITION_ROWS,
    N_STEP_ROWS,
    PositionalEncodingMode,
    diagonal_alignment_mask,
    sinusoidal_table,
)
from model.motion.generator import MotionGenerator, MotionGeneratorConfig
from model.motion.schedule import DiffusionSchedule

#: Stored in every official file, dropped by the official loader (the module rebuilds it).
STEP_TABLE_KEY = "denoising_net.TE.pe"
ALIGNMENT_MASK_KEY = "denoising_net.alignment_mask"
#: Buffers the module computes; the official loader loads them from the file when present.
COMPUTED_KEYS = (
    STEP_TABLE_KEY,
    "denoising_net.PE.pe",
    ALIGNMENT_MASK_KEY,
    *(f"diffusion_sched.{name}" for name in ("betas", "alphas", "alpha_bars", "sigmas_flex", "sigmas_inflex")),
)
#: HuBERT/wav2vec2 positional-conv weight norm: older torch/transformers names -> current names.
_POS_CONV = "audio_encoder.encoder.pos_conv_embed.conv."
WEIGHT_NORM_RENAMES = {
    _POS_CONV + "weight_g": _POS_CONV + "parametrizations.weight.original0",
    _POS_CONV + "weight_v": _POS_CONV + "parametrizations.weight.original1",
}
_LEGACY_NAMES = {new: old for old, new in WEIGHT_NORM_RENAMES.items()}
#: The official training args hold the dataset folder as a ``pathlib.PosixPath``.
DEFAULT_DATA_ROOT = "data/HDTF"


def computed_state(config: MotionGeneratorConfig) -> dict[str, torch.Tensor]:
    """The tables of :data:`COMPUTED_KEYS` for ``config``, as the module builds them."""
    n_tokens = config.n_prev_motions + config.n_motions
    schedule = DiffusionSchedule(config.n_diff_steps).state_dict()
    return {
        STEP_TABLE_KEY: sinusoidal_table(N_STEP_ROWS, config.feature_dim),
        "denoising_net.PE.pe": sinusoidal_table(N_POSITION_ROWS, config.feature_dim),
        ALIGNMENT_MASK_KEY: diagonal_alignment_mask(n_tokens),
        **{f"diffusion_sched.{k}": v for k, v in schedule.items()},
    }


def _current_weight_norm_names(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Rename ``weight_g``/``weight_v`` to the parametrization names (refusing a file holding both)."""
    out = dict(state)
    for old, new in WEIGHT_NORM_RENAMES.items():
        if old in out:
            if new in out:
                raise CheckpointError(f"{source}: holds both {old} and {new}; which one is meant is ambiguous")
            out[new] = out.pop(old)
    return out


def load_motion_generator(
    ckpt_path: str | Path,
    hubert_config_path: str | Path | None = None,
    device: str | torch.device = "cpu",
    pe: PositionalEncodingMode | None = None,
    attention_backend: str = "sdpa",
) -> MotionGenerator:
    """Build a :class:`MotionGenerator` from an official checkpoint, strictly, in eval mode.

    ``hubert_config_path``: the audio encoder's ``config.json`` (file or folder); None uses the
    transformers defaults (the base architecture). ``pe``: ``"legacy"`` (the encoding the
    released checkpoints were trained with) or ``"fixed"`` (upstream HEAD); None: the one the checkpoint's args
    name (``positional_encoding``, written by this project's training), else ``"legacy"``.
    Raises :class:`CheckpointError` for unsafe, malformed or mismatching files.
    """
    source = str(ckpt_path)
    ckpt = read_checkpoint(ckpt_path, MOTION_GENERATOR_GLOBALS)
    if not isinstance(ckpt, Mapping) or "model" not in ckpt or "args" not in ckpt:
        found = sorted(ckpt) if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise CheckpointError(
            f"{source}: not a JoyVASA motion generator checkpoint (expected a dict with 'args' and 'model', "
            f"found {found})"
        )
    args = ckpt["args"]
    if not isinstance(args, argparse.Namespace | Mapping):
        raise CheckpointError(f"{source}: 'args' is a {type(args).__name__}, expected an argparse.Namespace or dict")
    try:
        config = MotionGeneratorConfig.from_args(args)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{source}: unusable args: {exc}") from exc
    state = as_state_dict(ckpt["model"], source)
    if state.pop(STEP_TABLE_KEY, None) is None:
        raise CheckpointError(
            f"{source}: the key {STEP_TABLE_KEY} is missing; every official motion generator checkpoint "
            "stores it, so this file was stripped or written by other code. Re-save it with "
            "save_motion_generator or download the official file again."
        )
    state = _current_weight_norm_names(state, source)
    mask = state.get(ALIGNMENT_MASK_KEY)
    if mask is not None and mask.dtype != torch.bool:
        raise CheckpointError(f"{source}: {ALIGNMENT_MASK_KEY} has dtype {mask.dtype}, expected torch.bool")
    # The module takes these tensors as they are (assign), so they must have its dtypes.
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    for key, value in computed_state(config).items():  # the popped step table, and any table the file lacks
        state.setdefault(key, value)
    with torch.device("meta"):  # no initialisation: every tensor is assigned from `state`
        model = MotionGenerator(
            config,
            load_encoder_config(config.audio_model, hubert_config_path),
            positional_encoding=pe or _args_value(args, "positional_encoding", "legacy"),
            attention_backend=attention_backend,
        )
    load_state_dict_checked(model, state, source, assign=True)
    return model.to(device).eval()


def _args_value(args: argparse.Namespace | Mapping[str, Any], key: str, default: Any) -> Any:
    values = vars(args) if isinstance(args, argparse.Namespace) else args
    return values.get(key, default)


def save_motion_generator(
    model_or_state_dict: nn.Module | Mapping[str, torch.Tensor],
    args: Mapping[str, Any],
    path: str | Path,
    legacy_weight_norm_names: bool = True,
    *,
    iteration: int = 0,
) -> Path:
    """Write the official pickle ``{'args': Namespace, 'model': state_dict, 'iter': int}``.

    ``args``: the checkpoint args (at least the six the loader reads). A ``data_root`` is stored
    as a ``pathlib.PosixPath`` as the official training script does. Computed tables absent from
    a bare state dict (e.g. a recipe one) are filled in, ``denoising_net.TE.pe`` included.
    ``legacy_weight_norm_names`` writes the HuBERT positional-conv weight norm as
    ``weight_g``/``weight_v``, as older torch/transformers (and most likely the released file) did.
    The file is written to a temporary name first and renamed, so a crash leaves no partial file.
    """
    config = MotionGeneratorConfig.from_args(args)
    source = model_or_state_dict.state_dict() if isinstance(model_or_state_dict, nn.Module) else model_or_state_dict
    state = _current_weight_norm_names({k: v.detach().cpu() for k, v in source.items()}, str(path))
    for key, value in computed_state(config).items():
        state.setdefault(key, value)
    if legacy_weight_norm_names:
        state = {_LEGACY_NAMES.get(k, k): v for k, v in state.items()}
    namespace = argparse.Namespace(**{**args, "data_root": _posix_path(args.get("data_root", DEFAULT_DATA_ROOT))})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save({"args": namespace, "model": state, "iter": int(iteration)}, partial)
    os.replace(partial, path)
    return path


def _posix_path(value: str | os.PathLike[str]) -> pathlib.PurePosixPath:
    """A ``PosixPath`` (what official files hold) where it can be instantiated, else a ``PurePosixPath``."""
    path_cls = pathlib.PosixPath if os.name == "posix" else pathlib.PurePosixPath
    return path_cls(os.fspath(value))
