"""Safe loading of the official ``xpose.pth`` (and of test files in the same format).

The official file is ``{'model': state_dict, ...}`` (plus pickled training arguments, an ``argparse.Namespace``);
only ``'model'`` is read, a leading ``module.`` is stripped, as the official loader does. Files written by
``make-test-weights`` add ``'xpose_config'`` (a plain dict of sizes) for non-official sizes; without it the
official sizes are used.

Strictness (the official loader is ``strict=False`` and silently keeps random values for missing keys):

* missing learned tensors are an error (a model with random parts gives arbitrary crops);
* unexpected keys are ignored, as officially, and reported with a warning;
* the Swin ``relative_position_index`` buffers are built by the module; when the file has them they must
  equal the formula;
* shared MLPs (box, keypoint offset, keypoint size) appear under several names; the first name in state-dict
  order is loaded and every other name present must hold the same values (error otherwise, where the official
  loader would keep whichever came last).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from model.checkpoint import (
    MOTION_GENERATOR_GLOBALS,
    CheckpointError,
    as_state_dict,
    load_state_dict_checked,
    read_checkpoint,
)
from model.face.xpose.config import FULL, XPoseConfig
from model.face.xpose.model import UniPose

#: The official file pickles its training ``args`` (a Namespace, possibly with paths): the same allow-list as
#: the motion generator's.
XPOSE_GLOBALS = MOTION_GENERATOR_GLOBALS
CONFIG_KEY = "xpose_config"
COMPUTED_SUFFIX = "relative_position_index"


def computed_keys(module: nn.Module) -> list[str]:
    """State-dict keys the module builds itself (Swin relative position indices)."""
    return [k for k in module.state_dict() if k.endswith(COMPUTED_SUFFIX)]


def shared_keys(module: nn.Module) -> dict[str, str]:
    """``{alias: canonical}`` for state-dict entries that are the same tensor as an earlier entry."""
    first: dict[int, str] = {}
    aliases = {}
    for key, value in module.state_dict(keep_vars=True).items():
        if id(value) in first:
            aliases[key] = first[id(value)]
        else:
            first[id(value)] = key
    return aliases


def _resolve_aliases(sd: dict[str, torch.Tensor], aliases: dict[str, str], source: str) -> dict[str, torch.Tensor]:
    groups: dict[str, list[str]] = {}
    for alias, canonical in aliases.items():
        groups.setdefault(canonical, [canonical]).append(alias)
    out = dict(sd)
    for names in groups.values():
        present = [n for n in names if n in sd]
        if not present:
            continue
        value = sd[present[0]]
        differing = [n for n in present[1:] if sd[n].shape != value.shape or not torch.equal(sd[n], value)]
        if differing:
            raise CheckpointError(
                f"{source}: {present[0]} and its shared copies {differing[:3]} hold different values; "
                "the file is inconsistent (re-download it)"
            )
        out.update({n: value for n in names})
    return out


def load_xpose(path: str | Path, device: torch.device | str = "cpu") -> UniPose:
    """The detector from ``path`` in eval mode on ``device``; raises :class:`CheckpointError` on bad files."""
    obj = read_checkpoint(path, XPOSE_GLOBALS)
    if not isinstance(obj, Mapping) or "model" not in obj:
        raise CheckpointError(f"{path}: expected the official X-Pose layout {{'model': state_dict, ...}}")
    config = XPoseConfig.from_dict(obj[CONFIG_KEY]) if CONFIG_KEY in obj else FULL
    sd = {k.removeprefix("module."): v for k, v in as_state_dict(obj["model"], path).items()}
    net = UniPose(config)
    expected = net.state_dict()
    computed = computed_keys(net)
    for key in computed:
        if key in sd and not torch.equal(sd.pop(key).long(), expected[key]):
            raise CheckpointError(f"{path}: {key} differs from the Swin relative-position formula")
    sd = _resolve_aliases(sd, shared_keys(net), str(path))
    unexpected = [k for k in sd if k not in expected]
    if unexpected:
        warnings.warn(
            f"{path}: {len(unexpected)} key(s) not used by X-Pose were ignored (as the official loader does): "
            f"{', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}",
            stacklevel=2,
        )
    load_state_dict_checked(net, sd, str(path), ignore_missing=computed, ignore_unexpected=unexpected)
    return net.eval().to(device)


def save_xpose(state: Mapping[str, torch.Tensor], path: str | Path, config: XPoseConfig = FULL) -> None:
    """Write ``{'model': state}`` as the official file is laid out; non-official sizes go under ``xpose_config``."""
    data: dict[str, object] = {"model": dict(state)}
    if config != FULL:
        data[CONFIG_KEY] = config.to_dict()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
