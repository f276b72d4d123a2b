"""Opening a local media file (audio, or a driving video) with FFmpeg, safely and with clear errors.

Only local files of a known container are opened, each recognised by its leading bytes before FFmpeg sees it:
never a playlist or anything else that would make FFmpeg open further files or URLs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import av

log = logging.getLogger(__name__)

#: Containers accepted (FFmpeg demuxer names).
ALLOWED_DEMUXERS = frozenset({
    "wav", "w64", "mp3", "aac", "flac", "ogg", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "aiff", "caf", "amr",
})


def looks_like_media(head: bytes) -> bool:
    """Whether the first bytes are those of an allowed container (see :data:`ALLOWED_DEMUXERS`)."""
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return True
    if head[:4] == b"riff" or head[4:8] == b"ftyp":  # Sony Wave64, ISO media (mp4, m4a, mov, 3gp)
        return True
    if head[:3] == b"ID3" or head[:4] in (b"fLaC", b"OggS", b"caff", b"\x1aE\xdf\xa3") or head[:5] == b"#!AMR":
        return True
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return True
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0  # MPEG audio or ADTS frame sync


def open_media(path: Path, error: type[ValueError], what: str, hint: str) -> av.container.InputContainer:
    """Open the local media file ``path`` of an allowed container, or raise ``error`` naming the file (never its
    folder) and saying what to give instead: ``what`` (e.g. "an audio file") in the formats ``hint``."""
    name = path.name
    if not path.exists():
        raise error(f"{name}: no such file; give the path of {what} ({hint})")
    if not path.is_file():
        raise error(f"{name}: not a file; give the path of {what} ({hint})")
    with path.open("rb") as f:
        head = f.read(16)
    if not head:
        raise error(f"{name}: the file is empty; give {what} ({hint})")
    if not looks_like_media(head):
        raise error(f"{name}: not {what} this app reads; use {hint}")
    try:
        container = av.open(str(path), options={"protocol_whitelist": "file"})
    except (av.FFmpegError, ValueError, UnicodeDecodeError, OSError) as exc:
        log.info("cannot open %s: %s", name, exc)
        raise error(f"{name}: the file is damaged or not {what} this app reads; use {hint}") from exc
    if container.format.name not in ALLOWED_DEMUXERS:
        container.close()
        raise error(f"{name}: {container.format.name} files are not accepted; use {hint}")
    return container
