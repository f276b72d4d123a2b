"""Safe reading of checkpoint files and strict, well-explained state-dict loading.

Every official file is read with ``torch.load(weights_only=True)``; the only extra globals ever
allowed are the ones the official motion generator pickles in its ``args`` (an
``argparse.Namespace`` holding a ``pathlib.PosixPath``). Nothing here executes pickled code.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import pickle
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, unsafe, or does not fit the network it is loaded into."""


#: Globals the official motion generator checkpoint pickles besides tensors. ``PosixPath`` cannot be
#: instantiated on Windows, so there the pickled name maps to ``PurePosixPath`` (same contents).
MOTION_GENERATOR_GLOBALS: tuple[type | tuple[type, str], ...] = (
    argparse.Namespace,
    pathlib.PurePosixPath,
    pathlib.PosixPath if os.name == "posix" else (pathlib.PurePosixPath, "pathlib.PosixPath"),
)


def read_checkpoint(path: str | Path, allowed_globals: Iterable[type | tuple[type, str]] = ()) -> object:
    """``torch.load`` on CPU with ``weights_only=True`` and an explicit allow-list.

    Raises :class:`CheckpointError` naming the file and the way out when it is missing,
    truncated, not a torch file, or pickles anything outside the allow-list.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        with torch.serialization.safe_globals(list(allowed_globals)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused to unpickle ({exc}). Only tensors and plain containers are accepted; "
            "a checkpoint that needs arbitrary code is not loaded. Re-download the official file."
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(
            f"{path}: not a readable torch checkpoint ({exc}). The file is probably truncated or "
            "corrupted: delete it and download it again."
        ) from exc


def as_state_dict(obj: object, path: str | Path) -> dict[str, torch.Tensor]:
    """Check that a loaded object is a flat ``{str: Tensor}`` mapping."""
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) for k in obj):
        raise CheckpointError(f"{path}: expected a state dict (names to tensors), got {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: entries that are not tensors: {bad[:5]}")
    return dict(obj)


def load_state_dict_checked(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    source: str,
    *,
    ignore_missing: Iterable[str] = (),
    ignore_unexpected: Iterable[str] = (),
    assign: bool = False,
) -> None:
    """Strict ``load_state_dict`` whose error names every offending key and both shapes.

    ``ignore_missing`` lists module keys the checkpoint may lack (buffers the module computes);
    ``ignore_unexpected`` lists checkpoint keys that are dropped on purpose. ``assign`` makes the
    module take the given tensors instead of copying them (for modules built on the meta device;
    the caller is responsible for their dtypes).
    """
    expected = module.state_dict()
    skip_missing, skip_unexpected = set(ignore_missing), set(ignore_unexpected)
    missing = [k for k in expected if k not in state_dict and k not in skip_missing]
    unexpected = [k for k in state_dict if k not in expected and k not in skip_unexpected]
    mismatched = [
        f"{k}: expected {tuple(expected[k].shape)}, found {tuple(v.shape)}"
        for k, v in state_dict.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ]
    problems = [
        f"{label} ({len(items)}): {sep.join(items[:10])}{' ...' if len(items) > 10 else ''}"
        for label, items, sep in (
            ("missing keys", missing, ", "),
            ("unexpected keys", unexpected, ", "),
            ("shape mismatches", mismatched, "; "),
        )
        if items
    ]
    if problems:
        raise CheckpointError(
            f"{source} does not fit {type(module).__name__}: " + " | ".join(problems)
            + ". Is it the right file for this network, and does the config (renderer_config.json / "
            "checkpoint args) match the weights?"
        )
    filtered = {k: v for k, v in state_dict.items() if k in expected}
    module.load_state_dict(filtered, strict=False, assign=assign)
