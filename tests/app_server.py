"""Launching the real demo app for tests: small test weights, private temp/cache folders, a free port."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def app_environment(root: Path, weights: Path) -> dict[str, str]:
    """Environment of one test app: every folder it writes is under ``root``; weights from ``weights``."""
    return {
        "JOYVASA_WEIGHTS": str(weights),
        "JOYVASA_CACHE_DIR": str(root / "features"),
        "JOYVASA_OUTPUT_DIR": str(root / "outputs"),
        "JOYVASA_MAX_AUDIO_SECONDS": "30",
        "GRADIO_TEMP_DIR": str(root / "gradio"),
        "GRADIO_EXAMPLES_CACHE": str(root / "examples_cache"),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }


@contextmanager
def running_app(root: Path, weights: Path) -> Iterator[str]:
    """Build and launch the app (as ``app.py`` does) with :func:`app_environment`; yields its URL."""
    saved = {key: os.environ.get(key) for key in app_environment(root, weights)}
    os.environ.update(app_environment(root, weights))
    try:
        from demo.engine import Engine
        from demo.settings import DemoSettings
        from demo.ui import build_demo, launch_options

        settings = DemoSettings.from_env()
        engine = Engine(settings)
        if settings.preload:
            engine.preload()  # as app.py does before launching
        demo = build_demo(settings, engine)
        _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=None, quiet=True,
                                **launch_options(settings))
        try:
            yield url
        finally:
            demo.close()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def mp4_facts(path: str | Path) -> tuple[dict[str, str], float, tuple[int, int]]:
    """(codec by stream type, duration in seconds, (width, height)) of an mp4."""
    with av.open(str(path)) as container:
        kinds = {s.type: s.codec_context.name for s in container.streams}
        video = container.streams.video[0]
        return kinds, float(container.duration) / av.time_base, (video.width, video.height)
