"""The errors a user can cause (bad inputs, options or weights), each with the title interfaces show for it.

The command line prints them as one line; the web demo shows them as readable messages. Anything else is a bug
and is reported as such.
"""

from __future__ import annotations

from model.audio.decode import AudioError
from model.checkpoint import CheckpointError
from model.face.image import ImageError
from model.face.source_crop import NoFaceError
from model.face.video_frames import DrivingVideoError
from model.motion.files import MotionFileError
from model.motion.template import TemplateError
from model.video import VideoError
from model.weights import MissingWeightsError, WeightMismatchError

#: (exception type, title shown before its message), most specific first: several are ValueErrors.
USER_ERROR_TITLES: tuple[tuple[type[Exception], str], ...] = (
    (MissingWeightsError, "The model weights are not available"),
    (WeightMismatchError, "A weight file is not the pinned release"),
    (CheckpointError, "A weight file could not be loaded"),
    (TemplateError, "The motion template could not be loaded"),
    (NoFaceError, "No face found"),
    (ImageError, "Unusable image"),
    (AudioError, "Unusable audio"),
    (DrivingVideoError, "Unusable driving video"),
    (MotionFileError, "Unusable motion file"),
    (VideoError, "The video could not be written"),
    (ValueError, "Invalid setting"),
)
USER_ERRORS: tuple[type[Exception], ...] = tuple(kind for kind, _ in USER_ERROR_TITLES)
