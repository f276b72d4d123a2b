"""Every failure of a run becomes a readable ``gr.Error`` (a toast in the page, an ``AppError`` for API clients)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import gradio as gr

from model.errors import USER_ERROR_TITLES

log = logging.getLogger(__name__)

#: An absolute server path (not inside a URL): kept to its last part, the file name.
_SERVER_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s/'\"(),;:]+/)+([^\s/'\"(),;:]+)")


def scrub_paths(message: str) -> str:
    """``message`` with every absolute path shortened to its file name (URLs are left alone)."""
    return _SERVER_PATH.sub(r"\1", message)


def readable(exc: BaseException, paths: tuple[str | Path | None, ...] = ()) -> gr.Error:
    """The ``gr.Error`` for ``exc``: a title and the message, with server-side upload paths shortened to
    file names. Unexpected errors are logged with their traceback and reported without internals."""
    for kind, title in USER_ERROR_TITLES:
        if isinstance(exc, kind):
            message = str(exc)
            for path in paths:
                if isinstance(path, str | Path) and str(path):
                    message = message.replace(str(path), Path(path).name)
            return gr.Error(f"{title}: {scrub_paths(message)}", title=title, duration=None)
    log.exception("unexpected error in a demo run", exc_info=exc)
    return gr.Error("Something went wrong on the server while making this video; it has been logged. Please try "
                    "again, or with other inputs.", title="Server error", duration=None)


@contextmanager
def user_errors(*paths: str | Path | None) -> Iterator[None]:
    """Re-raise anything but a ``gr.Error`` as :func:`readable` does (``paths``: the run's input files)."""
    try:
        yield
    except gr.Error:
        raise
    except Exception as exc:
        raise readable(exc, paths) from exc
