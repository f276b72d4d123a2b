"""Test-wide settings (offline Hub, no analytics) and the generated weight trees shared by tests."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
# Digests of weight files and computed prompt embeddings are remembered in the cache folder: never the user's.
if "JOYVASA_CACHE_DIR" not in os.environ:
    os.environ["JOYVASA_CACHE_DIR"] = tempfile.mkdtemp(prefix="joyvasa-tests-")
    atexit.register(shutil.rmtree, os.environ["JOYVASA_CACHE_DIR"], ignore_errors=True)
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest


@pytest.fixture(scope="session")
def small_weights(tmp_path_factory):
    """A complete small test-weight tree (recipe seed 0), written once per session through the CLI."""
    from model.__main__ import main

    root = tmp_path_factory.mktemp("weights_small")
    assert main(["make-test-weights", str(root), "--size", "small", "--seed", "0"]) == 0
    return root


@pytest.fixture(scope="session")
def full_weights(tmp_path_factory):
    """``full_weights(seed)``: a full-size tree (official sizes) for a recipe seed, written once per seed."""
    from model.testweights.writer import write_test_weights

    trees = {}

    def tree(seed: int):
        if seed not in trees:
            trees[seed] = write_test_weights(tmp_path_factory.mktemp(f"weights_full_{seed}"), size="full", seed=seed)
        return trees[seed]

    return tree


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache folder in force for this test (offline: nothing is downloaded)."""
    import huggingface_hub.constants

    from model import weights

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.delenv(weights.WEIGHTS_ENV, raising=False)
    return cache
