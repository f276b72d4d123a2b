"""Golden inputs that a case does not store itself but names in another file of its folder.

E.g. case c's meta says ``"feature_3d": "a_appearance_feature_extractor.npz['feature_3d'] (same folder), ..."``.
"""

from __future__ import annotations

import re

import numpy as np

from tests.golden import GoldenCase, golden_dir, load_case

_LINK = re.compile(r"^(?P<file>[\w.-]+\.npz)\['(?P<key>\w+)'\]")


def linked_input(case: GoldenCase, name: str) -> np.ndarray:
    """The input ``name`` of ``case``, read from the file its meta names (float32 if stored as float16)."""
    description = case.meta["inputs"][name]
    match = _LINK.match(description)
    assert match, f"{case.path.name}: input {name!r} is not a link to another file: {description!r}"
    folder = case.path.parent.relative_to(golden_dir())
    return load_case(str(folder / match["file"]))[match["key"]]
