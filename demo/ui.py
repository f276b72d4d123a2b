"""Build the Gradio Blocks app: the Animate and Compare tabs, the examples and the weights panel."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import gradio as gr

from demo.components import Dropdown, Files, Number, Radio, RawImage, Slider
from demo.engine import Engine
from demo.handlers import DEFAULT_GUIDANCE, MAX_SEED, Handlers, random_seed
from demo.options import CONTROLS, CROP_MODES, DEFAULT_PRESET, EYE_OPEN_OFF, MODES, NO_CONTROL, PRESETS, REGIONS
from demo.settings import DemoSettings
from demo.weights_panel import missing_required, weights_markdown
from model.face.source_crop import FACE_INDEX_RANGE, OFFSET_RANGE, SCALE_RANGE
from model.motion.blinks import BLINK_RATE_RANGE
from model.motion.generate import POSE_ENDS
from model.motion.sampler import GUIDANCE_RANGE
from model.pipeline import SYNC_OFFSET_RANGE
from model.render.composition import EYE_OPEN_RANGE, GAZE_RANGE, INTENSITY_RANGE, MULTIPLIER_RANGE

log = logging.getLogger(__name__)

TITLE = "JoyVASA: audio-driven portrait and animal animation"
ASSETS = Path(__file__).resolve().parent.parent / "assets"
#: (image, audio, mode) rows of the examples table; sources and licences in assets/SOURCES.md.
EXAMPLES = (
    ("astronaut_photo.jpg", "en_hello.wav", "human"),
    ("hopper_photo.jpg", "zh_nihao.mp3", "human"),
    ("astronaut_painting.jpg", "zh_nihao.mp3", "human"),
    ("chelsea_cat.jpg", "en_hello.wav", "animal"),
    ("raccoon.jpg", "zh_nihao.mp3", "animal"),
    ("hopper_photo.jpg", "en_gettysburg_long.mp3", "human"),
)
PRESET_HELP = (
    f"exact: the official sampler (every diffusion step) · balanced: DPM-Solver++ {PRESETS['balanced'][1]} · "
    f"fast: DDIM {PRESETS['fast'][1]}"
)


def streaming_available() -> bool:
    """Whether Gradio can stream video here (its streaming output runs ``ffmpeg`` and ``ffprobe``); says why
    not in the log."""
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        log.warning("%s not on PATH: the page shows each video when it is finished instead of streaming it "
                    "(install ffmpeg: apt-get install ffmpeg; on Spaces, packages.txt)", " and ".join(missing))
    return not missing


def _limits_line(settings: DemoSettings) -> str:
    return (
        f"Limits: audio up to {settings.max_audio_seconds:g} s, images up to {settings.max_image_pixels / 1e6:g} "
        f"megapixels and {settings.max_file_mb} MB, comparisons up to {settings.max_compare_cells} videos."
    )


def _animate_tab(handlers: Handlers, settings: DemoSettings) -> None:
    with gr.Row():
        with gr.Column():
            image = RawImage(type="filepath", sources=["upload", "webcam", "clipboard"], label="Portrait or animal",
                             elem_id="source-image")
            audio = gr.Audio(type="filepath", sources=["upload", "microphone"], label="Speech", elem_id="speech")
            mode = Radio(list(MODES), value="human", label="Mode")
            button = gr.Button("Generate", variant="primary")
        with gr.Column():
            # Streamed while it is made (segment by segment), where the host has ffmpeg and ffprobe.
            video = gr.Video(label="Result (plays while it is made)", streaming=handlers.streaming, autoplay=True,
                             interactive=False)
            download = gr.File(label="Complete video (mp4)", interactive=False)
            notice = gr.Markdown()
            info = gr.Textbox(label="Timings and cache", lines=3, interactive=False)
            motion_out = gr.File(label="This run's motion (.npz: drive other pictures with it)", interactive=False)
            plot = gr.LinePlot(x="seconds", y="value", color="series", label="Motion over time: head pose "
                               "(degrees) and mouth opening, generated and controlled", height=260)
            # Finished videos: the examples (cached; Gradio cannot cache a streamed output) and /animate.
            finished = gr.Video(label="Example", format="mp4", interactive=False)
    with gr.Row():
        with gr.Accordion("Motion", open=True):
            guidance = Slider(GUIDANCE_RANGE.low, GUIDANCE_RANGE.high, value=DEFAULT_GUIDANCE, step=0.1,
                                 label="Guidance scale")
            with gr.Row():
                seed = Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
                dice = gr.Button("🎲 Random seed", size="sm")
            quality = Radio(list(PRESETS), value=DEFAULT_PRESET, label="Sampler quality", info=PRESET_HELP)
        with gr.Accordion("Head and face", open=True):
            region = Dropdown(list(REGIONS), value="all", label="Animation region",
                                 info="all: pose and expression · exp · pose · lip · eyes")
            multiplier = Slider(MULTIPLIER_RANGE.low, MULTIPLIER_RANGE.high, value=1.0, step=0.02,
                                   label="Driving multiplier")
            smoothing = gr.Checkbox(value=True, label="Smooth head motion")
        with gr.Accordion("Motion controls", open=True):
            pose_scale = Slider(INTENSITY_RANGE.low, INTENSITY_RANGE.high, value=1.0, step=0.05,
                                label="Head motion (0: still head)")
            expression_scale = Slider(INTENSITY_RANGE.low, INTENSITY_RANGE.high, value=1.0, step=0.05,
                                      label="Expression (non-lip)")
            lip_scale = Slider(INTENSITY_RANGE.low, INTENSITY_RANGE.high, value=1.0, step=0.05,
                               label="Lips (mouth opening)")
            sync_offset = Slider(SYNC_OFFSET_RANGE.low, SYNC_OFFSET_RANGE.high, value=0, step=40,
                                 label="Sync offset, ms (positive: motion earlier; 80 undoes the official lag)")
            blink_rate = Slider(BLINK_RATE_RANGE.low, BLINK_RATE_RANGE.high, value=0, step=1,
                                label="Blinks per minute (0: the generated eyes; people blink 15-20)")
            eye_open = Dropdown([EYE_OPEN_OFF, "1", "0.8", "0.6", "0.4", "0.2", "0"], value=EYE_OPEN_OFF,
                                allow_custom_value=True, label="Hold the eye opening",
                                info=f"{EYE_OPEN_OFF}: the generated eyes · 1: as in the picture · 0: shut "
                                     f"(any value from {EYE_OPEN_RANGE.low:g} to {EYE_OPEN_RANGE.high:g})")
            with gr.Row():
                gaze_x = Slider(GAZE_RANGE.low, GAZE_RANGE.high, value=0, step=0.05, label="Gaze: right (+) / left")
                gaze_y = Slider(GAZE_RANGE.low, GAZE_RANGE.high, value=0, step=0.05, label="Gaze: up (+) / down")
            with gr.Row():
                pose_from = Files(label="Head pose from a video (lips and expression still from the audio)",
                                  file_types=["video"], type="filepath")
                pose_end = Radio(list(POSE_ENDS), value="hold", label="Past the video's end",
                                 info="hold: keep its last pose · loop: start it over")
            motion_file = Files(label="Drive with a saved motion (.npz / .safetensors, made for this audio)",
                                  file_types=[".npz", ".safetensors"], type="filepath")
        with gr.Accordion("Output", open=True):
            pasteback = gr.Checkbox(value=True, label="Paste the face back into the whole image")
            crf = Slider(12, 35, value=18, step=1, label="Video quality (CRF: lower is better and bigger)")
    with gr.Accordion("Crop", open=False):
        with gr.Row():
            with gr.Column():
                crop_mode = Radio(list(CROP_MODES), value="auto", label="Crop",
                                     info="auto: detect the face · manual box: give it · off: the whole image")
                crop_scale = Slider(SCALE_RANGE.low, SCALE_RANGE.high, value=2.3, step=0.05,
                                       label="Crop scale (smaller: bigger face)")
                crop_x = Slider(OFFSET_RANGE.low, OFFSET_RANGE.high, value=0.0, step=0.01, label="Horizontal offset")
                crop_y = Slider(OFFSET_RANGE.low, OFFSET_RANGE.high, value=-0.125, step=0.005,
                                   label="Vertical offset")
                face_index = Number(value=0, precision=0, minimum=0, maximum=FACE_INDEX_RANGE.high,
                                       label="Face (0 = largest)")
                face_box = gr.Textbox(label="Manual face box: x, y, width, height (pixels)",
                                      placeholder="120, 80, 200, 200")
            with gr.Column():
                preview = gr.Image(label="Crop preview: the square on the image, and the crop", interactive=False)
                crop_note = gr.Markdown()

    crop_inputs = [image, mode, crop_mode, crop_scale, crop_x, crop_y, face_index, face_box]
    # The preview goes through the queue with its own small limit, on the CPU, beside any render.
    gr.on([c.change for c in crop_inputs], handlers.preview, crop_inputs, [preview, crop_note],
          api_visibility="private", trigger_mode="always_last", concurrency_id="preview",
          concurrency_limit=settings.preview_concurrency, show_progress="minimal")
    dice.click(random_seed, outputs=seed, api_visibility="private", queue=False)
    inputs = [image, audio, mode, quality, guidance, seed, region, multiplier, smoothing, crop_mode, crop_scale,
              crop_x, crop_y, face_index, face_box, pasteback, crf, pose_scale, expression_scale, lip_scale,
              sync_offset, motion_file, blink_rate, eye_open, gaze_x, gaze_y, pose_from, pose_end]
    # The page extras (crop notice, motion file, plot) travel in a State, not part of the API's outputs.
    extras = gr.State({})

    def show_extras(values: dict) -> tuple:
        if not values:
            return gr.skip(), gr.skip(), gr.skip()
        return values["notice"], values["motion"], values["plot"]

    button.click(handlers.animate_stream, inputs, [video, download, info, extras], api_name="animate_stream",
                 concurrency_id="gpu").then(show_extras, extras, [notice, motion_out, plot], api_visibility="private",
                                            queue=False)
    # /animate: the same parameters, the finished mp4 only (for API clients that want one file).
    gr.Button(visible=False).click(handlers.animate, inputs, [finished, info, extras], api_name="animate",
                                   concurrency_id="gpu")
    gr.Examples(
        examples=[[str(ASSETS / i), str(ASSETS / a), m] for i, a, m in EXAMPLES],
        inputs=[image, audio, mode],
        outputs=[finished, info, notice],
        fn=handlers.animate_example,
        cache_examples=True,
        cache_mode="lazy",
        label="Examples (click one: the first click renders it, later clicks are instant)",
    )


def _compare_tab(handlers: Handlers) -> None:
    gr.Markdown(
        "Compare several images driven by one audio, one image under several guidance scales or seeds, or one "
        "image with several audios: one side-by-side video. The motion of each audio is computed once and "
        "reused for every image. With several audios, the first one is heard."
    )
    with gr.Row():
        with gr.Column():
            images = Files(file_count="multiple", file_types=["image"], type="filepath", label="Images")
            audios = Files(file_count="multiple", file_types=["audio"], type="filepath", label="Audios")
            guidances = gr.Textbox(value=str(DEFAULT_GUIDANCE), label="Guidance scales (comma-separated)")
            seeds = gr.Textbox(value="0", label="Seeds (comma-separated)")
            mode = Radio(list(MODES), value="human", label="Mode")
            quality = Radio(list(PRESETS), value=DEFAULT_PRESET, label="Sampler quality", info=PRESET_HELP)
            with gr.Row():
                control = Dropdown([NO_CONTROL, *CONTROLS], value=NO_CONTROL, label="Compare a motion control")
                control_values = gr.Textbox(value="", label="Its values (comma-separated)", placeholder="0.8, 1, 1.3")
            button = gr.Button("Compare", variant="primary")
        with gr.Column():
            video = gr.Video(label="Comparison", format="mp4", interactive=False)
            info = gr.Textbox(label="Timings and cache", lines=2, interactive=False)
    button.click(handlers.compare, [images, audios, guidances, seeds, mode, quality, control, control_values],
                 [video, info],
                 api_name="compare", concurrency_id="gpu")


def build_demo(settings: DemoSettings | None = None, engine: Engine | None = None) -> gr.Blocks:
    """The whole page; the queue is configured from ``settings`` (default: from the environment). ``engine``:
    the one that runs the requests (default: a new one, loading lazily)."""
    settings = settings or DemoSettings.from_env()
    engine = engine or Engine(settings)
    handlers = Handlers(engine, streaming=streaming_available())
    with gr.Blocks(title=TITLE, delete_cache=(3600, 86400)) as demo:
        gr.Markdown(f"# {TITLE}\nOne image plus one speech recording in, a talking-face video out.")
        with gr.Accordion("Weights status", open=missing_required() or engine.preload_error is not None):
            panel = gr.Markdown(lambda: weights_markdown(engine))
            gr.Button("Refresh", size="sm").click(lambda: weights_markdown(engine), outputs=panel, api_name=False)
        with gr.Tabs():
            with gr.Tab("Animate"):
                _animate_tab(handlers, settings)
            with gr.Tab("Compare"):
                _compare_tab(handlers)
        gr.Markdown(_limits_line(settings))
    demo.queue(max_size=settings.max_queue, default_concurrency_limit=settings.concurrency)
    return demo


def launch_options(settings: DemoSettings | None = None) -> dict[str, Any]:
    """``demo.launch`` arguments that go with the settings (upload limit, served output folder, footer)."""
    settings = settings or DemoSettings.from_env()
    return {
        "max_file_size": f"{settings.max_file_mb}mb",
        "allowed_paths": [str(settings.output_dir)],
        "footer_links": ["api", "gradio", "settings"],
        "ssr_mode": False,
        "show_error": True,  # handlers raise readable gr.Errors; this also shows Gradio's own input errors
    }
