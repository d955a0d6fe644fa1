import io
import lzma
import tarfile

import numpy as np
import pytest
import torch

from vvpipe.data import ImageSet


@pytest.fixture
def digits() -> ImageSet:
    """A few hundred random 28x28 'images' with labels, uint8 like the prepared sets."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (300, 1, 28, 28), generator=generator, dtype=torch.uint8)
    labels = torch.arange(300) % 10
    return ImageSet(images, labels, [f"{i % 10}/{i}.png" for i in range(300)])


def write_png(path, image: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


@pytest.fixture
def workspace(tmp_path):
    """A project folder after a good extract: data/ with an image, and its inventory."""
    write_png(tmp_path / "data/task1/train/3/kept.png", np.full((28, 28), 7, np.uint8))
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/inventory.json").write_text('{"archive": "the previous one"}\n')
    return tmp_path


@pytest.fixture
def write_digits():
    """Writes real MNIST digits as PNGs into ``root/<digit>/``, ``per_class`` of each."""
    from vvpipe.digit_faults import load_mnist_digits

    digits, labels = load_mnist_digits()

    def write(root, per_class: int) -> None:
        for digit in range(10):
            for k, index in enumerate(np.flatnonzero(labels == digit)[:per_class]):
                write_png(root / str(digit) / f"{k}.png", digits[index])

    return write


def make_archive(path, members):
    """An xz tar of ``(name, tarfile type, payload)`` members; the payload is the bytes of a file
    or the target of a link."""
    # GNU format stores names as raw bytes, so a name that is not valid UTF-8 can be written.
    with lzma.open(path, "wb") as xz, tarfile.open(fileobj=xz, mode="w", format=tarfile.GNU_FORMAT,
                                                   errors="surrogateescape") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE or kind == tarfile.LNKTYPE:
                info.linkname = payload
                tar.addfile(info)
            elif kind == tarfile.REGTYPE:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            else:
                tar.addfile(info)
    return path
