"""Gradio input components that hand the app the user's file as it was sent."""

from __future__ import annotations

import gradio as gr
from gradio.data_classes import ImageData


class RawImage(gr.Image):
    """``gr.Image`` (upload, webcam, clipboard) whose value reaches the handler as the uploaded file, undecoded.

    Gradio's own preprocessing opens the file with PIL before the app sees it: a decompression bomb then fails
    inside Gradio with its internals, an unreadable file with a server path, and a 16-bit PNG turns white in
    its RGB conversion. The app decodes images itself, with its pixel limit and its conversions, the same way
    on every endpoint.
    """

    def get_block_name(self) -> str:
        return "image"  # the stock front end

    def preprocess(self, payload: ImageData | None) -> str | None:
        if payload is None:
            return None
        if payload.path is None:  # an inline data: URL (no file was uploaded): Gradio's own decoding
            return super().preprocess(payload)
        return str(payload.path)
