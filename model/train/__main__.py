"""``python -m model.train``: prepare training data from videos, and train the motion generator.

    python -m model.train prepare --videos DIR --out DATA [--weights W] [--workers N] [--device cpu]
    python -m model.train import-official --from OFFICIAL_DATA --out DATA [--audio-root DIR]
    python -m model.train fit --data DATA --out RUN [--config FILE] [--size full|small] [--max-steps N] [--batch-size B]
                              [--save-every N] [--resume] ...
    torchrun --nproc_per_node 2 -m model.train fit ...      (DistributedDataParallel; the README has multi-node)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from model.errors import USER_ERRORS
from model.train.data import TrainingDataError


def _prepare(args: argparse.Namespace) -> int:
    from model.face.source_crop import CropOptions
    from model.train.prepare import prepare

    outcomes = prepare(args.videos, args.out, args.weights, args.workers, args.device,
                       CropOptions(scale=args.crop_scale))
    for o in outcomes:
        detail = f"{o.frames} frames" if o.status == "done" else o.reason
        print(f"{o.status:8s} {o.video}: {detail}")
    done = sum(o.status in ("done", "skipped") for o in outcomes)
    print(f"{done} of {len(outcomes)} videos ready in {args.out}")
    return 0 if done else 1


def _import_official(args: argparse.Namespace) -> int:
    from model.train.official import import_official

    split = import_official(args.source, args.out, args.audio_root)
    print(f"{len(split['train'])} training and {len(split['test'])} test clips in {args.out}")
    return 0


def _fit(args: argparse.Namespace) -> int:
    from model.train.fit import FitConfig, fit
    from model.train.objective import LossWeights
    from model.train.step import TrainingObjective

    objective = TrainingObjective(trunc_probs=tuple(args.trunc_probs), weights=LossWeights(),
                                  per_clip_expression_loss=args.per_clip_expression_loss)
    config = FitConfig(size=args.size, max_steps=args.max_steps, batch_size=args.batch_size, lr=args.lr,
                       save_every=args.save_every, val_every=args.val_every, seed=args.seed,
                       positional_encoding=args.positional_encoding, ema_decay=args.ema, bf16=args.bf16,
                       dropout=not args.no_dropout, init=args.init, hubert_config=args.hubert_config,
                       objective=objective)
    records = fit(args.data, args.out, config, resume=args.resume, device=args.device)
    if records:
        last = records[-1]
        print(f"step {last['step']}: loss {last['train/total']:.4g}, "
              f"{last['train/seconds_per_step']:.2f} s/step; checkpoints in {Path(args.out) / 'checkpoints'}")
    return 0


def build_parser(fit_defaults: dict | None = None) -> argparse.ArgumentParser:
    """The command line; ``fit_defaults``: option values (by their underscore names) replacing fit's defaults."""
    parser = argparse.ArgumentParser(prog="python -m model.train",
                                     description="Prepare training data from videos, and train the motion generator.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, summary: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=summary, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        p.set_defaults(func=func)
        return p

    p = command("prepare", "videos -> clips of motion and audio, the template and the split", _prepare)
    p.add_argument("--videos", type=Path, required=True, help="folder of talking-head videos (with sound)")
    p.add_argument("--out", type=Path, required=True, help="data folder (resumes: done clips are skipped)")
    p.add_argument("--weights", type=Path, default=None,
                   help="LivePortrait weights folder (default: JOYVASA_WEIGHTS or the Hub); no motion generator "
                        "needed")
    p.add_argument("--workers", type=int, default=1, help="videos prepared in parallel (processes)")
    p.add_argument("--device", default="cpu", help="device of the motion extractor (cpu, cuda)")
    p.add_argument("--crop-scale", type=float, default=2.3, help="face crop scale, as for source images")

    p = command("import-official", "data made by the official prepare_data scripts -> a data folder",
                _import_official)
    p.add_argument("--from", dest="source", type=Path, required=True,
                   help="folder with motions.pkl, train.json and test.json")
    p.add_argument("--out", type=Path, required=True, help="data folder to write")
    p.add_argument("--audio-root", type=Path, default=None,
                   help="find the audio files here by name (the official lists hold absolute paths)")

    p = command("fit", "train the motion generator on a prepared data folder", _fit)
    p.add_argument("--data", type=Path, required=True, help="a folder made by `prepare`")
    p.add_argument("--out", type=Path, required=True, help="run folder: checkpoints/, metrics.jsonl, tensorboard/")
    p.add_argument("--config", type=Path, default=None,
                   help="a JSON file of these options (names with underscores, e.g. {\"batch_size\": 32}); "
                        "options on the command line win")
    p.add_argument("--size", choices=("full", "small"), default="full",
                   help="full: the released network's sizes; small: make-test-weights --size small (CPU minutes)")
    p.add_argument("--max-steps", type=int, default=50_000)
    p.add_argument("--batch-size", type=int, default=16, help="global batch (split among torchrun processes)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--save-every", type=int, default=1000, help="checkpoint every N steps (and at the end)")
    p.add_argument("--val-every", type=int, default=50, help="validate on the test split every N steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the run's newest checkpoint")
    p.add_argument("--init", type=Path, default=None,
                   help="start from an official-format generator checkpoint (e.g. the released one)")
    p.add_argument("--hubert-config", type=Path, default=None, help="with --init: the audio encoder's config.json")
    p.add_argument("--positional-encoding", choices=("fixed", "legacy"), default="fixed",
                   help="fixed: upstream HEAD (a row per token); legacy: the released weights' single row")
    p.add_argument("--per-clip-expression-loss", action="store_true",
                   help="fix the official bug that keeps only 1.5x the second clip's expression losses")
    p.add_argument("--trunc-probs", type=float, nargs=2, default=(0.3, 0.4), metavar=("P0", "P1"),
                   help="per clip, the probability of truncating it at a random frame")
    p.add_argument("--no-dropout", action="store_true",
                   help="no dropout, LayerDrop or SpecAugment (overfitting; the same result on any process count)")
    p.add_argument("--ema", type=float, default=None, metavar="DECAY",
                   help="also keep an EMA of the weights (e.g. 0.999), saved as iter_..._ema.pt")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (GPUs, or CPUs with AMX)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    if fit_defaults:
        known = {a.dest for a in p._actions} - {"help", "config"}
        unknown = sorted(set(fit_defaults) - known)
        if unknown:
            raise SystemExit(f"error: --config: unknown options {unknown}; known: {sorted(known)}")
        p.set_defaults(**fit_defaults)
    return parser


def _config_defaults(argv: list[str] | None) -> dict:
    """The options of a ``fit --config FILE`` (a JSON object), to serve as defaults: the command line wins."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", type=Path, default=None)
    known, _ = pre.parse_known_args(argv)
    if known.config is None:
        return {}
    try:
        values = json.loads(known.config.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: --config {known.config}: not a readable JSON file ({exc})") from None
    if not isinstance(values, dict):
        raise SystemExit(f"error: --config {known.config}: expected a JSON object of options")
    return values


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser(_config_defaults(argv)).parse_args(argv)
    try:
        return args.func(args)
    except (TrainingDataError, FileNotFoundError, *USER_ERRORS) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
