"""What every benchmark shares: a description of the machine, the frame distance and the RESULTS.md section writer."""

from __future__ import annotations

import math
import platform
import subprocess
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> str:
    """CPU model and count (and the GPU when one is used), torch version and threads."""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
        info = dict(line.split(":", 1) for line in lines if ":" in line)
        cpu = f"{info.get('Model name', '?').strip()}, {info.get('CPU(s)', '?').strip()} CPUs"
    except (OSError, subprocess.CalledProcessError):
        cpu = platform.processor() or "unknown CPU"
    gpu = f"; GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu}{gpu}; torch {torch.__version__}, {torch.get_num_threads()} threads"


def write_section(heading: str, section: str) -> None:
    """Replace (or append) the section starting with ``heading`` (a ``## `` line) in RESULTS.md."""
    text = RESULTS.read_text() if RESULTS.is_file() else "# Benchmark results\n\n"
    begin = text.find(heading)
    if begin < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", begin + len(heading))
        text = text[:begin] + section + ("" if end < 0 else text[end + 1 :])
    RESULTS.write_text(text.rstrip("\n") + "\n")


def frame_distance(frames_a: np.ndarray, frames_b: np.ndarray) -> tuple[float, int]:
    """(PSNR in dB over all frames, max abs) of two uint8 frame stacks; PSNR is inf when they are equal."""
    diff = frames_a.astype(np.float64) - frames_b.astype(np.float64)
    mse = float(np.mean(diff**2))
    return (math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)), int(np.abs(diff).max())
