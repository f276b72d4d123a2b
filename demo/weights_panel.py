"""The weights status panel: what is loaded, which files are present, missing or wrong, and how to get them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from demo.errors import scrub_paths
from model import weights

if TYPE_CHECKING:
    from demo.engine import Engine


def missing_required() -> bool:
    """Whether a required weight file is unusable: neither in the local folder nor in the Hub cache (no
    download), or not the pinned file."""
    return any(item.file.required and not item.usable for item in weights.status())


def weights_markdown(engine: Engine | None = None) -> str:
    """Markdown: what ``engine`` has loaded, then a table of every weight file, looked up without download."""
    root = weights.local_weights_dir()
    source = f"local folder (`{weights.WEIGHTS_ENV}`)" if root else "Hugging Face Hub cache"
    rows = ["| status | mode | file |", "|---|---|---|"]
    missing = []
    for item in weights.status():
        if item.present and item.problem:
            mark = "⚠️ not the pinned file"
            missing += [item.file] if item.file.required else []
        elif item.present:
            mark = "✅ present"
        elif item.file.on_demand:
            mark = "➖ only if needed"
        elif item.file.required:
            mark = "❌ missing"
            missing.append(item.file)
        else:
            mark = "➖ optional, absent"
        modes = "/".join(sorted(item.file.modes))
        rows.append(f"| {mark} | {modes} | [`{item.file.local_path}`]({item.file.how_to_get}) |")
    if missing:
        advice = (
            f"**{len(missing)} required file(s) missing.** Generation is disabled until they are available. "
            f"Either set `{weights.WEIGHTS_ENV}` to an official JoyVASA `pretrained_weights/` folder (same layout as "
            "below) and restart, or run with network access: missing files then download from the Hub on first use. "
            f"For an offline trial with random weights: `python -m model make-test-weights DIR` and "
            f"`{weights.WEIGHTS_ENV}=DIR`."
        )
    else:
        advice = "All required weight files are available."
    loaded = ""
    if engine is not None:
        parts = engine.animator.loaded()
        loaded = "**Loaded now:** " + ("; ".join(parts) if parts else "nothing yet (models load on first use)") + "\n\n"
        if engine.preload_error:
            loaded += f"**Loading at start-up failed:** {scrub_paths(engine.preload_error)}\n\n"
    pins = ", ".join(f"`{r.repo_id}@{r.revision[:7]}`" for r in (weights.LIVEPORTRAIT, weights.JOYVASA, weights.HUBERT))
    return (f"### Weights\nSource: {source}; Hub revisions pinned: {pins}.\n\n{loaded}{advice}\n\n"
            + "\n".join(rows))
