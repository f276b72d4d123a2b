"""Text prompts: the keypoint name sets, and their CLIP embeddings.

The official runner reads ``clip_embedding_{9,68}.pkl`` (LivePortrait ``src/utils/resources``): pickles of a
tuple (instance (1, 512), keypoints (N, 512)) of float16 tensors saved on ``cuda:0`` with torch's legacy
in-pickle storage. :func:`read_embeddings` reads that format (and the same on CPU) with a restricted unpickler
that knows three callables and nothing else, so no pickled code runs and no CUDA is needed.

Without those files the embeddings are computed once from the public CLIP ViT-B/32 text encoder ("a photo of
<name>", the text projection of the end token, not normalised) and cached in the same format.
"""

from __future__ import annotations

import collections
import io
import pickle
from pathlib import Path

import torch

from model.checkpoint import CheckpointError
from model.face.xpose.model import TextPrompt

#: The 9-point ``animal_face`` set (the official default, ``animal_face_9``).
ANIMAL_FACE_9 = (
    "right eye right", "right eye left", "left eye right", "left eye left", "nose tip",
    "lip right", "lip left", "upper lip", "lower lip",
)


def _numbered(name: str, numbers) -> list[str]:
    return [f"{name} {i}" for i in numbers]


def _eye(side: str) -> list[str]:
    parts = ("eye corner 1", "upper eyelid 1", "upper eyelid 2", "eye corner 2", "lower eyelid 2", "lower eyelid 1")
    return [f"{side} eye {p}" for p in parts]


#: The 68-point ``face`` set (iBUG-68 order, ``animal_face_68``).
FACE_68 = tuple(
    ["right cheekbone 1", "right cheekbone 2", *_numbered("right cheek", range(1, 6)), "right chin", "chin center",
     "left chin", *_numbered("left cheek", range(5, 0, -1)), "left cheekbone 2", "left cheekbone 1",
     *_numbered("right eyebrow", range(1, 6)), *_numbered("left eyebrow", range(1, 6)),
     *_numbered("nasal bridge", range(1, 5)),
     "right nasal wing 1", "right nasal wing 2", "nasal wing center", "left nasal wing 1", "left nasal wing 2",
     *_eye("right"), *_eye("left"),
     "right mouth corner", *_numbered("upper lip outer edge", range(1, 6)), "left mouth corner",
     *_numbered("lower lip outer edge", range(5, 0, -1)),
     *_numbered("upper lip inter edge", range(1, 6)), *_numbered("lower lip inter edge", range(3, 0, -1))]
)
KEYPOINT_SETS = {9: ANIMAL_FACE_9, 68: FACE_68}
INSTANCE = "face"


def prompt_text(name: str) -> str:
    """The CLIP input for a name (upstream X-Pose: lower case, '_' and '-' as spaces)."""
    return "a photo of " + name.lower().replace("_", " ").replace("-", " ")


class _EmbeddingUnpickler(pickle.Unpickler):
    """Knows tensors (rebuilt from legacy storage bytes on CPU, themselves read with ``weights_only``) and
    ordered dicts; refuses every other global."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return torch._utils._rebuild_tensor_v2
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return lambda data: torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in an embedding file")


def read_embeddings(path: str | Path) -> TextPrompt:
    """An official ``clip_embedding_{9,68}.pkl`` (or one written by :func:`write_embeddings`) as float32."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            obj = _EmbeddingUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, RuntimeError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable X-Pose text-embedding file ({exc})") from exc
    if not (isinstance(obj, tuple) and len(obj) == 2 and all(isinstance(t, torch.Tensor) for t in obj)):
        raise CheckpointError(f"{path}: expected a pair of tensors (instance, keypoints)")
    instance, keypoints = (t.detach().float() for t in obj)
    if instance.ndim != 2 or keypoints.ndim != 2 or instance.shape[1] != keypoints.shape[1]:
        raise CheckpointError(f"{path}: bad embedding shapes {tuple(instance.shape)}, {tuple(keypoints.shape)}")
    return TextPrompt(instance, keypoints)


def write_embeddings(prompt: TextPrompt, path: str | Path) -> None:
    """The official format: pickle (protocol 4) of (instance, keypoints) float16 tensors (here on CPU)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (prompt.instance.detach().half().cpu(), prompt.keypoints.detach().half().cpu())
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("wb") as f:
        pickle.dump(data, f, protocol=4)
    tmp.replace(path)


@torch.no_grad()
def clip_embeddings(clip_dir: str | Path, names: tuple[str, ...]) -> TextPrompt:
    """Embeddings from a local copy of the Hugging Face ``openai/clip-vit-base-patch32`` files (config, weights,
    tokenizer): ``text_embeds`` of ``CLIPTextModelWithProjection`` (the end token's projection, unnormalised).
    """
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(str(clip_dir))
    model = CLIPTextModelWithProjection.from_pretrained(str(clip_dir)).eval()

    def encode(texts: list[str]) -> torch.Tensor:
        tokens = tokenizer(texts, padding=True, return_tensors="pt")
        return model(**tokens).text_embeds.float()

    return TextPrompt(encode([prompt_text(INSTANCE)]), encode([prompt_text(n) for n in names]))
