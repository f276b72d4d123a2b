"""Hugging Face Space entry point: build the demo and launch it.

Options (each also an environment variable): ``--server-name`` (``GRADIO_SERVER_NAME``, default
127.0.0.1; 0.0.0.0 to serve the network), ``--server-port`` (``GRADIO_SERVER_PORT``, default 7860),
``--share`` (``GRADIO_SHARE=1``: a public gradio.live link, needs outbound network). The demo's own
limits and queue are ``JOYVASA_*`` variables (see ``demo/settings.py`` and the README).
"""

from __future__ import annotations

try:  # ZeroGPU: `spaces` must be imported before torch (it patches CUDA); optional elsewhere.
    import spaces  # noqa: F401
except ImportError:
    pass

import argparse
import os

from demo.settings import DemoSettings
from demo.ui import build_demo, launch_options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="JoyVASA web demo")
    parser.add_argument("--server-name", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--server-port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", default=os.environ.get("GRADIO_SHARE", "") in ("1", "true"),
                        help="create a public gradio.live link (needs outbound network)")
    return parser.parse_args(argv)


settings = DemoSettings.from_env()
demo = build_demo(settings)

if __name__ == "__main__":
    args = parse_args()
    demo.launch(server_name=args.server_name, server_port=args.server_port, share=args.share,
                **launch_options(settings))
