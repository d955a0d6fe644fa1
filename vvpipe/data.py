"""Reading the image folders the way the original scripts do, and the fast in-memory data path.

The original reads every ``*.png`` of every label folder with OpenCV as grayscale and keeps a
Python list of ``(float tensor (1,H,W) with raw values 0..255, int(label))``. Here images are
decoded once into a tensor file; training then draws batches by index from in-memory tensors.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vvpipe.errors import DataError, MissingInputError
from vvpipe.layout import NOT_A_LABEL, decode_image, is_image_name, is_label_folder, size_problem
from vvpipe.files import atomic_output

@dataclass
class ImageSet:
    """A split held in memory: uint8 images (N,1,28,28), int64 labels, and their file names.
    A test set is stored without its labels (``labels`` None) wherever choices are made; only
    the evaluation stages join them back (``with_labels``)."""

    images: torch.Tensor
    labels: torch.Tensor | None
    files: list[str]
    skipped: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def without_labels(self) -> ImageSet:
        return ImageSet(self.images, None, self.files, self.skipped)

    def with_labels(self, labels: torch.Tensor, files: list[str]) -> ImageSet:
        if list(files) != list(self.files):
            raise DataError("the test labels describe other files than the test images")
        return ImageSet(self.images, labels, self.files, self.skipped)

    def to_dict(self) -> dict:
        return {"images": self.images, "labels": self.labels, "files": self.files,
                "skipped": self.skipped}

    @classmethod
    def from_dict(cls, state: dict) -> ImageSet:
        return cls(state["images"], state["labels"], list(state["files"]), list(state["skipped"]))


def read_split(root: Path) -> ImageSet:
    """Every readable 28x28 ``*.png`` under ``root/<digit>/``, label folders in sorted order.

    The original walks ``os.listdir`` order, which the filesystem decides; sorted order is one of
    the orders it can produce and the only reproducible one. Files the original would crash on
    (undecodable, wrong size, non-digit folder) are skipped and listed in ``skipped``.
    """
    images, labels, files, skipped = [], [], [], []
    if not root.is_dir():
        raise MissingInputError(f"split folder {root} does not exist")
    for folder in sorted(root.iterdir(), key=lambda p: p.name):
        if not folder.is_dir():
            continue
        if not is_label_folder(folder.name):
            skipped.append({"path": folder.as_posix(), "reason": NOT_A_LABEL})
            continue
        for path in sorted(folder.iterdir()):
            if not is_image_name(path) or not path.is_file():
                skipped.append({"path": path.as_posix(), "reason": "not a .png file"})
                continue
            image, problem = decode_image(path)
            if image is None:
                skipped.append({"path": path.as_posix(), "reason": problem})
            elif problem := size_problem(*image.shape):
                skipped.append({"path": path.as_posix(), "reason": problem})
            else:
                images.append(image)
                labels.append(int(folder.name))
                files.append(path.relative_to(root).as_posix())
    if not images:
        raise DataError(f"no readable 28x28 PNG image under {root}")
    return ImageSet(torch.from_numpy(np.stack(images)).unsqueeze(1),
                    torch.tensor(labels, dtype=torch.int64), files, skipped)


def stratified_split(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of a seeded, stratified held-out share of each class (at least one image of
    every class that has two or more)."""
    held_out = []
    for digit in np.unique(labels):
        members = np.flatnonzero(labels == digit)
        count = min(len(members) - 1, max(1, round(fraction * len(members)))) if fraction else 0
        held_out.append(rng.permutation(members)[:count])
    return np.sort(np.concatenate(held_out)) if held_out else np.zeros(0, dtype=np.int64)


def stratified_subset(image_set: ImageSet, size: int, seed: int) -> ImageSet:
    """About ``size`` images of ``image_set``, the same share of every class, drawn with ``seed``
    and kept in their stored order; the whole set when ``size`` is 0 or not smaller."""
    if size == 0 or size >= len(image_set):
        return image_set
    labels = image_set.labels.numpy()
    keep = torch.from_numpy(stratified_split(labels, size / len(labels),
                                             np.random.default_rng(seed)))
    return ImageSet(image_set.images[keep], image_set.labels[keep],
                    [image_set.files[i] for i in keep.tolist()])


def balanced_sample(image_set: ImageSet, per_class: int, seed: int) -> ImageSet:
    """Up to ``per_class`` images of every class, drawn with ``seed``: a fixed sample on which
    every class weighs the same."""
    rng = np.random.default_rng(seed)
    labels = image_set.labels.numpy()
    keep = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class]
                           for c in np.unique(labels)])
    return ImageSet(image_set.images[keep], image_set.labels[keep],
                    [image_set.files[i] for i in keep])


def save_image_sets(sets: dict[str, ImageSet], path: Path) -> None:
    with atomic_output(path) as partial:
        torch.save({name: s.to_dict() for name, s in sets.items()}, partial)


def load_image_sets(path: Path) -> dict[str, ImageSet]:
    if not path.is_file():
        raise MissingInputError(f"prepared data {path} does not exist: run `dvc repro` first")
    return {name: ImageSet.from_dict(s) for name, s in torch.load(path).items()}


class TensorBatches:
    """Batches drawn by index from tensors already in memory (and on the training device).

    With ``shuffle`` each pass makes the same draws from ``generator`` as
    ``DataLoader(shuffle=True, generator=generator)``: the loader's base seed for workers,
    ``torch.randperm(n)``, and the empty tail ``RandomSampler`` draws after a whole permutation.
    Both therefore give the same batches, epoch after epoch.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 shuffle: bool, generator: torch.Generator | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle, self.generator = batch_size, shuffle, generator
        self.class_shares: torch.Tensor | None = None
        self.share_generator: torch.Generator | None = None

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def draw_by_class(self, weights: torch.Tensor | None, generator: torch.Generator) -> None:
        """From the next pass on, give class c ``weights[c]`` times its natural share of the
        pass (same length, drawn with ``generator``); None goes back to the plain passes."""
        if weights is None:
            self.class_shares = None
            return
        sizes = torch.bincount(self.labels.cpu(), minlength=len(weights)).double()
        shares = sizes * weights.double()
        self.class_shares, self.share_generator = shares / shares.sum(), generator

    def _drawn_order(self) -> torch.Tensor:
        """One pass's indices under ``class_shares``: each class's count in proportion to its
        share, its images taken in a fresh permutation (cycled when it needs more than it
        has), the whole pass shuffled."""
        n, labels, generator = len(self.labels), self.labels.cpu(), self.share_generator
        counts = torch.floor(self.class_shares * n).long()
        short = n - int(counts.sum())
        if short:
            counts += torch.bincount(torch.multinomial(self.class_shares, short, True, generator=generator),
                                     minlength=len(counts))
        picked = []
        for c in torch.nonzero(counts).flatten().tolist():
            members = torch.nonzero(labels == c).flatten()
            cycles = math.ceil(int(counts[c]) / len(members))
            order = torch.cat([members[torch.randperm(len(members), generator=generator)]
                               for _ in range(cycles)])
            picked.append(order[:int(counts[c])])
        index = torch.cat(picked)
        return index[torch.randperm(n, generator=generator)].to(self.images.device)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        if self.class_shares is not None:
            order = self._drawn_order()
            for start in range(0, n, self.batch_size):
                index = order[start:start + self.batch_size]
                yield self.images[index].float(), self.labels[index]
        elif self.shuffle:
            torch.empty((), dtype=torch.int64).random_(generator=self.generator)
            order = torch.randperm(n, generator=self.generator).to(self.images.device)
            torch.randperm(n, generator=self.generator)
            for start in range(0, n, self.batch_size):
                index = order[start:start + self.batch_size]
                yield self.images[index].float(), self.labels[index]
        else:
            for start in range(0, n, self.batch_size):
                yield (self.images[start:start + self.batch_size].float(),
                       self.labels[start:start + self.batch_size])


def batches(image_set: ImageSet, batch_size: int, shuffle: bool, seed: int,
            device: torch.device) -> TensorBatches:
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return TensorBatches(image_set.images.to(device), image_set.labels.to(device), batch_size,
                         shuffle, generator)
