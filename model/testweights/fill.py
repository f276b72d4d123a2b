"""Fill a network's state dict from the recipe, by the network's own key names and shapes."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from model.testweights import recipe


def recipe_state_dict(module: nn.Module, seed: int, computed: Iterable[str] = ()) -> dict[str, torch.Tensor]:
    """Recipe tensors for every state-dict entry of ``module`` except the ``computed`` ones.

    ``computed`` names buffers the module builds itself (sinusoidal tables, masks, schedules).
    Integer entries keep their dtype (``num_batches_tracked`` is int64 zeros).
    """
    skip = set(computed)
    entries = {k: tuple(v.shape) for k, v in module.state_dict().items() if k not in skip}
    return {k: torch.from_numpy(v) for k, v in recipe.state_dict(entries, seed).items()}
