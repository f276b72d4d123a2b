"""Small helpers shared by the tests."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from torch import nn

from model.checkpoint import load_state_dict_checked
from model.testweights.fill import recipe_state_dict
from model.weights import FILES


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


FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def install_in_hub_cache(tree: Path, cache: Path) -> None:
    """Lay a local tree out as a Hugging Face cache: snapshots/<commit>/<hub path> plus refs."""
    for f in FILES:
        src = tree / f.local_path
        if not src.is_file():
            continue
        repo_dir = cache / f"models--{f.repo.repo_id.replace('/', '--')}"
        commit = f.repo.revision if len(f.repo.revision) == 40 else FAKE_COMMIT
        dst = repo_dir / "snapshots" / commit / f.hub_path
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        if commit == FAKE_COMMIT:
            (repo_dir / "refs").mkdir(exist_ok=True)
            (repo_dir / "refs" / f.repo.revision).write_text(FAKE_COMMIT)
