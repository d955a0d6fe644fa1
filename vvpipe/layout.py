"""What the archive's folders mean, as the original scripts read them: the tasks and splits, the
label folders, which files are images and of what size, and decoding one. No torch here: extract
judges untrusted archives with these rules in a small process."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

TASKS = ("task1", "task3")
SPLITS = ("train", "test")
IMAGE_SHAPE = (28, 28)


LABEL_FOLDERS = tuple(str(digit) for digit in range(10))
NOT_A_LABEL = "folder name is not a digit label 0-9"


def is_label_folder(name: str) -> bool:
    """Only ``0``-``9`` name a class: ``10``, ``07`` or ``x`` are bad input, not new labels."""
    return name in LABEL_FOLDERS


def is_image_name(path: Path) -> bool:
    """The original globs ``*.png``, case-sensitively."""
    return path.suffix == ".png"


def size_problem(height: int, width: int) -> str | None:
    """Why an image of this size cannot feed the fixed models, or None."""
    if (height, width) != IMAGE_SHAPE:
        return f"size {width}x{height}, expected {IMAGE_SHAPE[1]}x{IMAGE_SHAPE[0]}"
    return None


# A 28x28 PNG takes well under 10 KB even as 16-bit colour with alpha; anything far larger is
# not one of ours, and is not handed to a decoder.
MAX_IMAGE_BYTES = 1 << 20


def decode_image(path: Path, flags: int = cv2.IMREAD_GRAYSCALE) -> tuple[np.ndarray | None, str | None]:
    """The decoded image, or None and why not. OpenCV decodes the file's bytes and never sees its
    name (a name that is not valid UTF-8 once crashed ``cv2.imread``)."""
    size = path.stat().st_size
    if size == 0:
        return None, "empty file"
    if size > MAX_IMAGE_BYTES:
        return None, f"{size} bytes, more than a 28x28 image can need ({MAX_IMAGE_BYTES})"
    image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), flags)
    return (None, "cannot be decoded") if image is None else (image, None)


def read_grayscale(path: Path) -> np.ndarray | None:
    """The original reader's result, ``cv2.imread(path, cv2.IMREAD_GRAYSCALE)``; None when
    unreadable."""
    return decode_image(path)[0]
