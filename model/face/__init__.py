"""Faces: detection (official ONNX models or OpenCV cascades), LivePortrait's crop, and paste-back.

Entry points: :func:`load_image`, :func:`crop_source` (with :class:`CropOptions` and a detector from
:func:`build_detector`), :func:`prepare_paste_back` with :func:`paste_back` (OpenCV) or
:class:`TorchPasteBack` (batched, any device).
"""

from model.face.crop import Crop, crop_from_box, crop_image, parse_pt2, parse_rect_from_landmark
from model.face.detector import build_detector
from model.face.faces import Face, FaceDetector, select_face
from model.face.image import ImageError, load_image, resize_to_limit
from model.face.mask import feather_mask
from model.face.paste import PasteBack, TorchPasteBack, paste_back, prepare_paste_back
from model.face.source_crop import CropOptions, NoFaceError, SourceCrop, crop_source

__all__ = [
    "Crop",
    "CropOptions",
    "Face",
    "FaceDetector",
    "ImageError",
    "NoFaceError",
    "PasteBack",
    "SourceCrop",
    "TorchPasteBack",
    "build_detector",
    "crop_from_box",
    "crop_image",
    "crop_source",
    "feather_mask",
    "load_image",
    "parse_pt2",
    "parse_rect_from_landmark",
    "paste_back",
    "prepare_paste_back",
    "resize_to_limit",
    "select_face",
]
