"""Exact duplicates by pixel hash, near duplicates by a perceptual hash."""

from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np

def pixel_hash(image: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=12).hexdigest()


def duplicate_groups(hashes: list[str]) -> dict[str, list[int]]:
    """Exact duplicates: indices of the images with identical pixel hashes, groups of two or more."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, value in enumerate(hashes):
        groups[value].append(index)
    return {h: members for h, members in groups.items() if len(members) > 1}


def average_hash(images: np.ndarray) -> np.ndarray:
    """A 64-bit perceptual hash per image: 8x8 block means of the 28x28 image (cropped to 24x24
    around the centre) above their own mean."""
    x = images[:, 2:26, 2:26].astype(np.float64).reshape(len(images), 8, 3, 8, 3).mean((2, 4))
    bits = (x > x.mean((1, 2), keepdims=True)).reshape(len(images), 64)
    return np.packbits(bits, axis=1).view(">u8").ravel()


def near_duplicate_groups(images: np.ndarray, exact: dict[str, list[int]]) -> list[list[int]]:
    """Images whose perceptual hashes agree although their pixels differ."""
    one_per_exact = {m for members in exact.values() for m in members[1:]}
    groups: dict[int, list[int]] = defaultdict(list)
    for index, value in enumerate(average_hash(images)):
        if index not in one_per_exact:
            groups[int(value)].append(index)
    return [members for members in groups.values() if len(members) > 1]
