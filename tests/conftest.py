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
def write_digits():
    """Writes real MNIST digits as PNGs into ``root/<digit>/``, ``per_class`` of each."""
    from vvpipe.standin import load_mnist_digits

    digits, labels = load_mnist_digits()

    def write(root, per_class: int) -> None:
        for digit in range(10):
            for k, index in enumerate(np.flatnonzero(labels == digit)[:per_class]):
                write_png(root / str(digit) / f"{k}.png", digits[index])

    return write
