"""The weights status panel: which files are present, which are missing, and how to get them."""

from __future__ import annotations

from model import weights


def missing_required() -> bool:
    """Whether a required weight file is neither in the local folder nor in the Hub cache (no download)."""
    return any(item.file.required and not item.present for item in weights.status())


def weights_markdown() -> str:
    """Markdown table of every weight file, looked up without any download."""
    root = weights.local_weights_dir()
    source = f"local folder `{root}` (`{weights.WEIGHTS_ENV}`)" if root else "Hugging Face Hub cache"
    rows = ["| status | mode | file |", "|---|---|---|"]
    missing = []
    for item in weights.status():
        if item.present:
            mark = "✅ present"
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
    return f"### Weights\nSource: {source}\n\n{advice}\n\n" + "\n".join(rows)
