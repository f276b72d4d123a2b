"""Command line: ``python -m model <command>``."""

from __future__ import annotations

import argparse
import dataclasses
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
        if item.present:
            mark = "WRONG  " if item.problem else "ok     "
        else:
            mark = "missing" if item.file.required else "absent "
        missing_required |= item.file.required and not item.usable
        modes = "/".join(sorted(item.file.modes))
        print(f"  {mark} [{modes:12}] {item.file.local_path}{'' if item.file.required else '  (optional)'}")
        if item.problem:
            print(f"          {item.problem}")
    if missing_required:
        print(
            f"\nTo get the weights: set {weights.WEIGHTS_ENV} to an official JoyVASA 'pretrained_weights/' "
            "folder, or run with network access so they download from the Hub."
        )
    return 1 if missing_required else 0


def _face_box(text: str) -> tuple[float, float, float, float]:
    parts = [float(v) for v in text.split(",")]
    if len(parts) != 4:
        raise argparse.ArgumentTypeError("expected x,y,w,h in pixels, e.g. 120,80,200,200")
    return parts[0], parts[1], parts[2], parts[3]


def _animate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from model.audio.decode import load_audio
    from model.cache import FeatureCache
    from model.face.source_crop import CropOptions
    from model.motion.files import load_motion, save_motion
    from model.motion.sampler import SamplerConfig
    from model.pipeline import AnimateOptions, Animator
    from model.render.composition import CompositionOptions
    from model.video import VideoOptions
    from model.weights import TrainedGenerator

    if args.motion_template is not None and args.motion_generator is None:
        raise ValueError("--motion-template goes with --motion-generator (the released generator has its own)")
    saved = None
    if args.motion is not None:  # checked, with the audio, before anything is loaded
        saved = load_motion(args.motion)
        saved.check_audio(load_audio(args.audio, args.max_audio_seconds), force=args.force)
    options = AnimateOptions(
        mode=args.mode,
        crop=CropOptions(
            enabled=not args.no_crop,
            scale=args.crop_scale,
            x_offset=args.crop_x,
            y_offset=args.crop_y,
            face_index=args.face_index,
            box=args.face_box,
        ),
        sampler=SamplerConfig(kind=args.sampler, num_steps=args.steps, cfg_scale=args.cfg_scale, seed=args.seed),
        smooth=not args.no_smooth,
        composition=CompositionOptions(
            mode=args.mode,
            relative_motion=not args.no_relative_motion,
            driving_option=args.driving_option,
            animation_region=args.region,
            stitching=not args.no_stitching,
            normalize_lip=not args.no_normalize_lip,
            driving_multiplier=args.driving_multiplier,
            pose_scale=args.pose_scale,
            expression_scale=args.expression_scale,
            lip_scale=args.lip_scale,
            blink_rate=args.blink_rate,
            eye_open=args.eye_open,
            gaze_x=args.gaze_x,
            gaze_y=args.gaze_y,
        ),
        pasteback=not args.no_pasteback,
        batch_size=args.batch_size,
        precision=args.precision,
        sync_offset_ms=args.sync_offset_ms,
        driving_motion=None if saved is None else saved.motion,
        pose_from=args.pose_from,
        pose_end=args.pose_end,
        video=VideoOptions(crf=args.crf, max_audio_seconds=args.max_audio_seconds,
                           segment_seconds=args.segment_seconds),
        detector=args.detector,
    )
    cache = FeatureCache(args.cache_dir, enabled=not args.no_cache)
    own = None if args.motion_generator is None else TrainedGenerator(args.motion_generator, args.motion_template)
    animator = Animator(args.weights, device=args.device, cache=cache, generator=own)
    bars: dict[str, tqdm] = {}

    def progress(stage: str, fraction: float) -> None:
        bar = bars.setdefault(stage, tqdm(total=100, desc=f"{stage:>14}", unit="%", leave=True))
        bar.update(round(100 * fraction) - bar.n)
        if fraction >= 1:
            bar.close()

    # Always the streaming run (the same frames as a plain one): it reports when the first segment was ready,
    # and keeps the segments with --segments.
    stream = animator.animate_stream(args.image, args.audio, args.out, options, progress, segment_dir=args.segments)
    with stream:
        for segment in stream:
            if args.segments is not None:
                tqdm.write(f"segment {segment.index}: {segment.path} ({segment.start:.2f}-{segment.end:.2f} s)")
    result = stream.result
    if args.save_motion is not None:
        settings = {"sampler": dataclasses.asdict(options.sampler), "smooth": options.smooth,
                    "sync_offset_ms": options.sync_offset_ms, "mode": options.mode,
                    "from_motion_file": None if args.motion is None else args.motion.name}
        save_motion(args.save_motion, result.motion, load_audio(args.audio, args.max_audio_seconds), settings)
        print(f"motion saved to {args.save_motion}")
    print(result.summary())
    for note in result.notes:
        print(f"  note: {note}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m model",
        description="JoyVASA: audio-driven portrait and animal animation (LivePortrait renderer + diffusion motion).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("make-test-weights", help="write deterministic test weights in the official layout")
    p.add_argument("directory", type=Path, help="output folder (created)")
    p.add_argument(
        "--size",
        choices=("small", "full"),
        default="small",
        help="small: tiny networks for fast CPU runs; full: the official sizes (~1.5 GB)",
    )
    p.add_argument("--seed", type=int, default=0, help="recipe seed (default 0)")
    p.set_defaults(func=_make_test_weights)

    from model.face.source_crop import CropOptions
    from model.motion.generate import POSE_ENDS
    from model.pipeline import AnimateOptions
    from model.precision import PRECISIONS
    from model.render.composition import CompositionOptions
    from model.video import VideoOptions

    defaults, crop, comp, video = AnimateOptions(), CropOptions(), CompositionOptions(), VideoOptions()
    p = sub.add_parser(
        "animate",
        help="animate an image with a speech recording into an mp4",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--image", required=True, type=Path, help="portrait or animal picture (jpg, png, webp, ...)")
    p.add_argument("--audio", required=True, type=Path, help="speech (wav, mp3, m4a, ogg, opus, flac, ...)")
    p.add_argument("--out", required=True, type=Path, help="output .mp4")
    p.add_argument("--mode", choices=("human", "animal"), default="human")
    g = p.add_argument_group("motion")
    g.add_argument("--seed", type=int, default=defaults.sampler.seed, help="sampling seed (same seed, same video)")
    g.add_argument(
        "--cfg-scale",
        type=float,
        default=defaults.sampler.cfg_scale,
        help="audio guidance scale (official demo 4.0, CLI 2.8)",
    )
    g.add_argument(
        "--sampler",
        choices=("ddpm", "ddim", "dpmsolver++"),
        default=defaults.sampler.kind,
        help="ddpm: the exact official sampler (all steps); ddim / dpmsolver++: fast, --steps steps",
    )
    g.add_argument("--steps", type=int, default=None, help="steps of the fast samplers (default 25)")
    g.add_argument("--no-smooth", action="store_true", help="skip the official EMA smoothing of head pose")
    g = p.add_argument_group("face and head")
    g.add_argument(
        "--region", choices=("all", "exp", "pose", "lip", "eyes"), default="all", help="what the motion animates"
    )
    g.add_argument("--driving-option", choices=("expression-friendly", "pose-friendly"), default=comp.driving_option)
    g.add_argument("--driving-multiplier", type=float, default=comp.driving_multiplier, help="scales the motion (0..2)")
    g.add_argument("--pose-scale", type=float, default=comp.pose_scale,
                   help="head rotation and translation relative to the first frame (0: a still head; 0..2)")
    g.add_argument("--expression-scale", type=float, default=comp.expression_scale,
                   help="non-lip expression offsets (0..2)")
    g.add_argument("--lip-scale", type=float, default=comp.lip_scale, help="lip offsets: mouth opening (0..2)")
    g.add_argument("--blink-rate", type=float, default=comp.blink_rate,
                   help="insert blinks, per minute (0..60; 0: the generated eyes as they are; human mode)")
    g.add_argument("--eye-open", type=float, default=comp.eye_open,
                   help="hold the eye opening at this share of the picture's (0: shut .. 1; human mode)")
    g.add_argument("--gaze-x", type=float, default=comp.gaze_x, help="eyeballs to the right (+) or left (-1..1)")
    g.add_argument("--gaze-y", type=float, default=comp.gaze_y, help="eyeballs up (+) or down (-1..1)")
    g.add_argument("--sync-offset-ms", type=float, default=defaults.sync_offset_ms,
                   help="move the motion earlier (positive) or later against the audio, in ms (-500..500; the "
                        "official alignment shows the video about 80 ms late)")
    g.add_argument("--pose-from", type=Path, default=None, metavar="VIDEO",
                   help="take the head pose from a driving video (lips and expression still from the audio)")
    g.add_argument("--pose-end", choices=POSE_ENDS, default=defaults.pose_end,
                   help="past the driving video's end: hold its last pose or loop it")
    g.add_argument("--save-motion", type=Path, default=None,
                   help="write the run's decoded motion to FILE (.npz or .safetensors) to reuse with --motion")
    g.add_argument("--motion", type=Path, default=None,
                   help="drive the image with a saved motion instead of sampling (its audio must be --audio)")
    g.add_argument("--force", action="store_true", help="with --motion: accept another audio than it was made for")
    g.add_argument("--no-relative-motion", action="store_true")
    g.add_argument("--no-stitching", action="store_true")
    g.add_argument("--no-normalize-lip", action="store_true")
    g = p.add_argument_group("crop")
    g.add_argument("--no-crop", action="store_true", help="animate the whole image resized to 256x256")
    g.add_argument("--crop-scale", type=float, default=crop.scale, help="crop side / face size (smaller: bigger face)")
    g.add_argument(
        "--crop-x", type=float, default=crop.x_offset, help="horizontal crop shift, fraction of the crop side"
    )
    g.add_argument("--crop-y", type=float, default=crop.y_offset, help="vertical crop shift, fraction of the crop side")
    g.add_argument("--face-index", type=int, default=0, help="which face, largest first")
    g.add_argument("--face-box", type=_face_box, default=None, help="manual face box x,y,w,h in pixels")
    g.add_argument(
        "--detector",
        choices=("auto", "onnx", "cascade"),
        default="auto",
        help="auto: official ONNX models when present, else the OpenCV cascade",
    )
    g = p.add_argument_group("output")
    g.add_argument("--no-pasteback", action="store_true", help="output the 512x512 crop instead of the full image")
    g.add_argument("--crf", type=int, default=video.crf, help="H.264 quality (lower is better)")
    g.add_argument("--max-audio-seconds", type=float, default=video.max_audio_seconds)
    g.add_argument("--segment-seconds", type=float, default=video.segment_seconds,
                   help="a key frame starts every segment of this length (streaming granularity)")
    g.add_argument("--segments", type=Path, default=None,
                   help="also keep the streamable segments (fragmented mp4, H.264 + AAC) in this folder")
    g = p.add_argument_group("runtime")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    g.add_argument("--precision", choices=PRECISIONS, default=defaults.precision,
                   help="of W and G; auto: fp32 with the exact sampler, else the fastest the device runs natively "
                        "(fp16 on GPUs, bf16 on AMX/AVX512-BF16 CPUs)")
    g.add_argument("--batch-size", type=int, default=None,
                   help="frames rendered per network call (default: the device's best: 1 at full size on a CPU)")
    g.add_argument(
        "--weights", type=Path, default=None, help="weights folder (default: $JOYVASA_WEIGHTS, else the Hub)"
    )
    g.add_argument("--motion-generator", type=Path, default=None, metavar="CHECKPOINT",
                   help="a motion generator of your own (python -m model.train fit: RUN/checkpoints/iter_*.pt) "
                        "instead of the released one")
    g.add_argument("--motion-template", type=Path, default=None, metavar="TEMPLATE",
                   help="with --motion-generator: its training data's template (DATA/template.pkl)")
    g.add_argument(
        "--cache-dir", type=Path, default=None, help="feature cache (default: $JOYVASA_CACHE_DIR or ~/.cache/joyvasa)"
    )
    g.add_argument("--no-cache", action="store_true")
    p.set_defaults(func=_animate)

    p = sub.add_parser("weights", help="list which weight files are present (never downloads)")
    p.add_argument("--weights", type=Path, default=None, help="local weights folder (default: $JOYVASA_WEIGHTS)")
    p.set_defaults(func=_weights)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; a user error (bad option, input or weights) is one line on stderr and exit status 2."""
    from model.errors import USER_ERRORS

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
