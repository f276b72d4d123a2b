"""The folder finished videos are written to before Gradio serves them, swept of old runs."""

from __future__ import annotations

import logging
import re
import shutil
import time
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

#: Longest output file name stem, in bytes: far below the 255-byte limit of common file systems.
MAX_STEM_BYTES = 80


def output_name(*parts: str) -> str:
    """A safe, bounded file-name stem from upload names, e.g. ("portrait", "speech") -> "portrait_speech".

    Characters other than letters, digits, ``-``, ``_`` and ``.`` become ``-``; each part gets an equal share
    of :data:`MAX_STEM_BYTES` (UTF-8 letters are kept whole).
    """
    share = MAX_STEM_BYTES // max(len(parts), 1) - 1
    cleaned = []
    for part in parts:
        text = re.sub(r"[^\w.-]+", "-", part, flags=re.UNICODE).strip("-.") or "input"
        cleaned.append(text.encode()[:share].decode(errors="ignore") or "input")
    return "_".join(cleaned)


class OutputFolder:
    """One fresh sub-folder per run under ``root``; runs older than ``max_age_s`` are deleted as new ones start."""

    def __init__(self, root: Path, max_age_s: float) -> None:
        self.root = Path(root)
        self.max_age_s = max_age_s

    def new_run(self) -> Path:
        """A new empty folder for one run's files."""
        self.sweep()
        folder = self.root / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder

    def sweep(self) -> None:
        """Delete run folders last modified more than ``max_age_s`` ago."""
        if not self.root.is_dir():
            return
        cutoff = time.time() - self.max_age_s
        for folder in self.root.iterdir():
            try:
                if folder.is_dir() and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder)
            except OSError as exc:  # another process may be sweeping too
                log.info("could not remove old output %s: %s", folder, exc)
