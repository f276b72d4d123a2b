"""The demo page starts without weights and names the missing files."""

from __future__ import annotations

import json
import urllib.request

import pytest

from model import weights


@pytest.fixture
def launched(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(tmp_path / "empty"))
    from demo.ui import build_demo

    demo = build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, ssr_mode=False)
    yield url
    demo.close()


def test_page_lists_missing_weights(launched: str) -> None:
    with urllib.request.urlopen(launched.rstrip("/") + "/config", timeout=30) as response:
        config = json.loads(response.read())
    texts = " ".join(str(c.get("props", {}).get("value", "")) for c in config["components"])
    assert "required file(s) missing" in texts
    assert "liveportrait/base_models/warping_module.pth" in texts
    assert weights.WEIGHTS_ENV in texts and "make-test-weights" in texts
