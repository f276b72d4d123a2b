"""The demo page starts without weights and names the missing files."""

from __future__ import annotations

import json
import urllib.request

import pytest

from model import weights
from tests.app_server import running_app


@pytest.fixture
def launched(tmp_path):
    with running_app(tmp_path, tmp_path / "empty") as url:
        yield url


def test_page_lists_missing_weights(launched: str) -> None:
    with urllib.request.urlopen(launched.rstrip("/") + "/config", timeout=30) as response:
        config = json.loads(response.read())
    texts = " ".join(str(c.get("props", {}).get("value", "")) for c in config["components"])
    assert "required file(s) missing" in texts
    assert "liveportrait/base_models/warping_module.pth" in texts
    assert weights.WEIGHTS_ENV in texts and "make-test-weights" in texts
    panel = next(c for c in config["components"] if c.get("props", {}).get("label") == "Weights status")
    assert panel["props"]["open"] is True


def test_app_module_builds_the_page_and_parses_options(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    monkeypatch.setenv("JOYVASA_CACHE_DIR", str(tmp_path / "features"))
    import app

    args = app.parse_args(["--server-name", "0.0.0.0", "--share"])
    assert (args.server_name, args.server_port, args.share) == ("0.0.0.0", 7999, True)
    assert {"animate", "compare"} <= {d.get("api_name") for d in app.demo.config["dependencies"]}
