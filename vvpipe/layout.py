"""What the archive's folders mean, as the original scripts read them: the tasks and splits, the
label folders, which files are images and of what size, and decoding one. No torch here: extract
judges untrusted archives with these rules in a small process."""

from __future__ import annotations

import struct
from dataclasses import dataclass
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
# Nor is an image whose header declares more pixels than this (a 28x28 digit has 784): a 1 MB PNG
# can declare 32000x32000 and would cost gigabytes to decode.
MAX_IMAGE_PIXELS = 1 << 16
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_COLOUR_TYPES = {0: "gray", 2: "colour", 3: "palette", 4: "gray+alpha", 6: "colour+alpha"}


@dataclass(frozen=True)
class PngHeader:
    width: int
    height: int
    bit_depth: int
    colour_type: int

    @property
    def mode(self) -> str:
        """``gray8``, ``gray+alpha8``, ``colour16``...: what the file holds, before any decoder
        converts it."""
        return f"{PNG_COLOUR_TYPES.get(self.colour_type, 'unknown')}{self.bit_depth}"


def png_header(head: bytes) -> PngHeader | None:
    """The IHDR fields from a file's first 26 bytes, or None when they are not a PNG's."""
    if len(head) < 26 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return PngHeader(width, height, head[24], head[25])


def decode_image(path: Path, flags: int = cv2.IMREAD_GRAYSCALE,
                 max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[np.ndarray | None, str | None]:
    """The decoded image, or None and why not. Files too large, and PNGs whose header declares
    more than ``max_pixels``, never reach the decoder. OpenCV decodes the file's bytes and never
    sees its name (a name that is not valid UTF-8 once crashed ``cv2.imread``)."""
    size = path.stat().st_size
    if size == 0:
        return None, "empty file"
    if size > MAX_IMAGE_BYTES:
        return None, f"{size} bytes, more than a 28x28 image can need ({MAX_IMAGE_BYTES})"
    data = np.fromfile(path, dtype=np.uint8)
    header = png_header(data[:26].tobytes())
    if header is not None and header.width * header.height > max_pixels:
        return None, (f"declares {header.width}x{header.height} pixels, more than "
                      f"{max_pixels} (extract.limits.max_image_pixels)")
    try:
        image = cv2.imdecode(data, flags)
    except cv2.error:
        image = None
    return (None, "cannot be decoded") if image is None else (image, None)


def read_grayscale(path: Path) -> np.ndarray | None:
    """The original reader's result, ``cv2.imread(path, cv2.IMREAD_GRAYSCALE)``; None when
    unreadable."""
    return decode_image(path)[0]
