"""Gradio input components that hand the app the user's file as it was sent."""

from __future__ import annotations

import gradio as gr
from gradio.data_classes import FileData, ImageData, ListFiles


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


class _AsSent:
    """For inputs the app checks itself: the value reaches the handler as the client sent it.

    The stock components refuse out-of-range or unknown values with generic words ("Value 99 is greater than
    maximum value 35.", "Value: 'x' (type: <class 'str'>) is not in the list of choices") that do not name the
    setting; the handlers check every value instead, with one message style naming the setting and its range.
    The page itself only ever sends valid values.
    """

    STOCK = ""

    def get_block_name(self) -> str:
        return self.STOCK

    def preprocess(self, payload: object) -> object:
        return payload


class Slider(_AsSent, gr.Slider):
    STOCK = "slider"


class Number(_AsSent, gr.Number):
    STOCK = "number"


class Radio(_AsSent, gr.Radio):
    STOCK = "radio"


class Dropdown(_AsSent, gr.Dropdown):
    STOCK = "dropdown"


class Files(gr.File):
    """``gr.File(type="filepath")`` whose path (``file_count="single"``) or paths reach the handler whatever their
    file extension: the app's readers look at the content and say what is wrong with a file."""

    def get_block_name(self) -> str:
        return "file"

    def preprocess(self, payload: ListFiles | FileData | None) -> str | list[str] | None:
        if payload is None:
            return None
        paths = [str(f.path) for f in (payload.root if isinstance(payload, ListFiles) else [payload])]
        return paths[0] if self.file_count == "single" else paths
