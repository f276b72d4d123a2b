"""Small helpers shared by the tests."""

from __future__ import annotations

from typing import Any

from torch import nn

from model.checkpoint import load_state_dict_checked
from model.testweights.fill import recipe_state_dict


def assert_matches_manifest(module: nn.Module, manifest: dict[str, Any], prefix: str = "") -> None:
    """The module's state-dict keys, order-insensitive, and shapes equal the official manifest's."""
    ours = {prefix + k: tuple(v.shape) for k, v in module.state_dict().items()}
    theirs = {k: tuple(v["shape"]) for k, v in manifest["entries"].items()}
    assert set(ours) == set(theirs), (
        f"missing {sorted(set(theirs) - set(ours))[:10]}, extra {sorted(set(ours) - set(theirs))[:10]}"
    )
    bad = {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]}
    assert not bad, f"shape mismatches (ours, official): {bad}"


def with_recipe_weights(module: nn.Module, seed: int, computed=()) -> nn.Module:
    """Load recipe weights (seeded by key name) into ``module`` strictly and switch it to eval."""
    load_state_dict_checked(module, recipe_state_dict(module, seed, computed), "recipe", ignore_missing=computed)
    return module.eval()
