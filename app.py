"""Hugging Face Space entry point: build the demo, load the default weights, launch it.

Options (each also an environment variable): ``--server-name`` (``GRADIO_SERVER_NAME``, default
127.0.0.1; 0.0.0.0 to serve the network), ``--server-port`` (``GRADIO_SERVER_PORT``, default 7860),
``--share`` (``GRADIO_SHARE=1``: a public gradio.live link, needs outbound network), ``--no-preload``
(``JOYVASA_PRELOAD=0``: load the weights on first use instead of at start-up, for development). The demo's
own limits and queue are ``JOYVASA_*`` variables (see ``demo/settings.py`` and the README).
"""

from __future__ import annotations

try:  # ZeroGPU: `spaces` must be imported before torch (it patches CUDA); optional elsewhere.
    import spaces  # noqa: F401
except ImportError:
    pass

import argparse
import logging
import os

from demo.engine import Engine
from demo.settings import DemoSettings
from demo.ui import build_demo, launch_options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="JoyVASA web demo")
    parser.add_argument("--server-name", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--server-port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", default=os.environ.get("GRADIO_SHARE", "") in ("1", "true"),
                        help="create a public gradio.live link (needs outbound network)")
    parser.add_argument("--no-preload", dest="preload", action="store_false", default=None,
                        help="load the weights on first use instead of at start-up (JOYVASA_PRELOAD=0)")
    return parser.parse_args(argv)


settings = DemoSettings.from_env()
engine = Engine(settings)
demo = build_demo(settings, engine)

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args()
    if settings.preload if args.preload is None else args.preload:
        # At module level of the main process, before launch: on ZeroGPU this is where networks go to "cuda".
        engine.preload()
    demo.launch(server_name=args.server_name, server_port=args.server_port, share=args.share,
                **launch_options(settings))
