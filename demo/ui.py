"""Build the Gradio Blocks app."""

from __future__ import annotations

import gradio as gr

from demo.weights_panel import weights_markdown

TITLE = "JoyVASA: audio-driven portrait and animal animation"


def build_demo() -> gr.Blocks:
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\nOne image plus one speech recording in, a talking-face video out.")
        with gr.Accordion("Weights status", open=True):
            panel = gr.Markdown(weights_markdown())
            gr.Button("Refresh").click(weights_markdown, outputs=panel, api_name=False)
    return demo
