"""The demo page starts without weights and names the missing files."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

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


def test_output_names_stay_short_whatever_the_upload_names() -> None:
    from demo.outputs import MAX_STEM_BYTES, output_name

    name = output_name("ü" * 300, "speech: take 2/" + "x" * 400)
    assert len(name.encode()) <= MAX_STEM_BYTES and "/" not in name and ":" not in name
    assert output_name("portrait", "hello") == "portrait_hello"


def test_a_failed_run_removes_its_folder(monkeypatch, tmp_path) -> None:
    from demo.engine import Engine
    from demo.settings import DemoSettings

    engine = Engine(DemoSettings(output_dir=tmp_path / "out"))

    def fail_half_way(image, audio, out_path, options, progress):
        Path(out_path).write_bytes(b"partial")
        raise RuntimeError("the device went away")

    monkeypatch.setattr(engine.animator, "animate", fail_half_way)
    inputs = type("Inputs", (), {"image": None, "speech": None, "name": "x"})()
    with pytest.raises(RuntimeError):
        engine.animate(inputs, None, lambda *a, **k: None)
    assert list((tmp_path / "out").iterdir()) == []
