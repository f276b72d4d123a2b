"""Hugging Face Space entry point: build the demo and launch it."""

from __future__ import annotations

import argparse
import os

from demo.ui import build_demo


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="JoyVASA web demo")
    parser.add_argument("--server-name", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--server-port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", default=os.environ.get("GRADIO_SHARE", "") == "1",
                        help="create a public gradio.live link (needs outbound network)")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    build_demo().launch(server_name=args.server_name, server_port=args.server_port, share=args.share, ssr_mode=False)
