"""Command line: ``python -m model <command>``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _make_test_weights(args: argparse.Namespace) -> int:
    from model.testweights.writer import write_test_weights

    start = time.perf_counter()
    root = write_test_weights(args.directory, size=args.size, seed=args.seed)
    print(f"wrote {args.size} test weights (seed {args.seed}) to {root} in {time.perf_counter() - start:.1f} s")
    print(f"use them with: JOYVASA_WEIGHTS={root}")
    return 0


def _weights(args: argparse.Namespace) -> int:
    from model import weights

    root = weights.local_weights_dir(args.weights)
    print(f"weights source: {root if root else 'Hugging Face Hub cache (no download)'}")
    missing_required = False
    for item in weights.status(args.weights):
        mark = "ok     " if item.present else ("missing" if item.file.required else "absent ")
        missing_required |= item.file.required and not item.present
        modes = "/".join(sorted(item.file.modes))
        print(f"  {mark} [{modes:12}] {item.file.local_path}{'' if item.file.required else '  (optional)'}")
    if missing_required:
        print(f"\nTo get the weights: set {weights.WEIGHTS_ENV} to an official JoyVASA 'pretrained_weights/' "
              "folder, or run with network access so they download from the Hub.")
    return 1 if missing_required else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m model",
        description="JoyVASA: audio-driven portrait and animal animation (LivePortrait renderer + diffusion motion).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("make-test-weights", help="write deterministic test weights in the official layout")
    p.add_argument("directory", type=Path, help="output folder (created)")
    p.add_argument("--size", choices=("small", "full"), default="small",
                   help="small: tiny networks for fast CPU runs; full: the official sizes (~1.5 GB)")
    p.add_argument("--seed", type=int, default=0, help="recipe seed (default 0)")
    p.set_defaults(func=_make_test_weights)

    p = sub.add_parser("weights", help="list which weight files are present (never downloads)")
    p.add_argument("--weights", type=Path, default=None, help="local weights folder (default: $JOYVASA_WEIGHTS)")
    p.set_defaults(func=_weights)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
