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
