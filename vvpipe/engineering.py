"""Turning the analysis into a better training set: each remedy is one switch in params.yaml,
and every image dropped, changed or added is written to the changelog with its reason."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from vvpipe.analysis import pixel_hash
from vvpipe.config import EngineerSettings
from vvpipe.data import ImageSet

# Properties whose measured shift a random affine copy can reproduce, and the transform part
# that does it.
SHIFT_TRANSFORMS = {"orientation": "rotation", "centre_x": "shift_x", "centre_y": "shift_y",
                    "height": "scale"}


@dataclass
class Changelog:
    entries: list[dict] = field(default_factory=list)

    def add(self, action: str, file: str, reason: str, **details) -> None:
        self.entries.append({"action": action, "file": file, "reason": reason, **details})

    def counts(self) -> dict[str, dict[str, int]]:
        result: dict[str, Counter] = {}
        for entry in self.entries:
            result.setdefault(entry["action"], Counter())[entry["reason"].split(":")[0]] += 1
        return {action: dict(sorted(c.items())) for action, c in sorted(result.items())}


def random_affine(image: np.ndarray, rng: np.random.Generator, rotation: tuple[float, float],
                  shift_x: tuple[float, float], shift_y: tuple[float, float],
                  scale: tuple[float, float]) -> np.ndarray:
    """One copy of a white-on-black digit rotated, shifted and scaled about its centre by values
    drawn uniformly from the given (low, high) ranges."""
    angle = rng.uniform(*rotation)
    factor = rng.uniform(*scale)
    height, width = image.shape
    matrix = cv2.getRotationMatrix2D((width / 2 - 0.5, height / 2 - 0.5), angle, factor)
    matrix[0, 2] += rng.uniform(*shift_x)
    matrix[1, 2] += rng.uniform(*shift_y)
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def shift_ranges(shift: dict[str, dict]) -> dict[str, tuple[float, float]]:
    """Transform ranges that widen the training distribution of each shifted property to the
    test's: the mean moves by the difference of means, and a uniform range adds the missing
    spread (a uniform on ±r has standard deviation r/√3, and variances add)."""
    ranges = {"rotation": (0.0, 0.0), "shift_x": (0.0, 0.0), "shift_y": (0.0, 0.0),
              "scale": (1.0, 1.0)}
    for name, part in SHIFT_TRANSFORMS.items():
        s = shift.get(name)
        if not s or not s["shifted"]:
            continue
        spread = math.sqrt(3 * max(0.0, s["test_std"] ** 2 - s["train_std"] ** 2))
        offset = s["test_mean"] - s["train_mean"]
        if part == "scale":
            spread, offset = spread / s["train_mean"], offset / s["train_mean"]
            ranges[part] = (1 + offset - spread, 1 + offset + spread)
        elif part == "rotation":
            # Orientation is measured clockwise-positive in image coordinates; OpenCV turns
            # counter-clockwise for positive angles.
            ranges[part] = (-offset - spread, -offset + spread)
        else:
            ranges[part] = (offset - spread, offset + spread)
    return ranges


@dataclass
class EngineeredSet:
    images: np.ndarray
    labels: np.ndarray
    files: list[str]  # source file, with "+<n>" for added copies
    changelog: Changelog
    shift_ranges: dict[str, tuple[float, float]] | None


def engineer(train: ImageSet, findings: list[dict], summary: dict,
             settings: EngineerSettings) -> EngineeredSet:
    """Apply each switched-on remedy to the training set, in this order: quarantine bad input,
    drop test look-alikes, corrupted images and duplicates, repair polarity, fix labels,
    rebalance, augment for the shift, shuffle."""
    log = Changelog()
    rng = np.random.default_rng(settings.seed)
    images = train.images[:, 0].numpy().copy()
    labels = train.labels.numpy().copy()
    by_file = {row["file"]: row for row in findings}
    if len(by_file) != len(train.files) or set(by_file) != set(train.files):
        raise ValueError("the analysis findings do not describe this training set: re-run analyze")
    rows = [by_file[f] for f in train.files]
    keep = np.ones(len(rows), dtype=bool)

    for bad in summary["bad_input"]:
        log.add("quarantined", bad["path"], f"bad input: {bad['reason']}")
    unusual = {b["path"].split("/train/", 1)[-1] for b in summary["bad_input"]
               if b["kind"] == "unusual_mode"}

    def drop(i: int, reason: str, **details) -> None:
        keep[i] = False
        log.add("dropped", rows[i]["file"], reason, label=int(labels[i]), **details)

    kept_of_group: dict[int, int] = {}
    for i, row in enumerate(rows):
        if row["file"] in unusual:
            drop(i, "unusual image mode: converted by the reader, not trusted")
        elif row["in_test"]:
            drop(i, "identical to a test image")
        elif settings.drop_corrupted and (kind := next(
                (k for k in ("blank", "saturated", "noise") if row[k]), None)):
            drop(i, f"corrupted: {kind}")
        elif row["inverted"] and not settings.repair_inverted:
            drop(i, "inverted polarity")
        elif settings.drop_duplicates and row["duplicate_group"] >= 0:
            group = row["duplicate_group"]
            if group in kept_of_group:
                drop(i, "exact duplicate", of=rows[kept_of_group[group]]["file"])
            else:
                kept_of_group[group] = i

    for i in np.flatnonzero(keep):
        row = rows[i]
        if row["inverted"]:
            images[i] = 255 - images[i]
            log.add("changed", row["file"], "inverted polarity repaired")
        if row["label_issue"] and settings.label_errors != "keep":
            confident = row["confidence"] is not None and \
                row["confidence"] >= settings.relabel_min_confidence
            if settings.label_errors == "relabel" and confident:
                log.add("changed", row["file"], "relabelled: label issue",
                        label=int(labels[i]), new_label=row["predicted"],
                        confidence=row["confidence"])
                labels[i] = row["predicted"]
            else:
                drop(i, "label issue", predicted=row["predicted"], confidence=row["confidence"])

    index = np.flatnonzero(keep)
    images, labels = images[index], labels[index]
    files = [rows[i]["file"] for i in index]

    if settings.rebalance != "none":
        images, labels, files = _rebalance(images, labels, files, settings, rng, log)

    ranges = None
    if settings.augment_shift and summary["shifted_properties"] and settings.shift_copies:
        ranges = shift_ranges(summary["shift"])
        if ranges != shift_ranges({}):
            copies = [random_affine(image, rng, **ranges)
                      for _ in range(settings.shift_copies) for image in images]
            added_files = [f"{f}+shift{k}" for k in range(settings.shift_copies) for f in files]
            for name in added_files:
                log.add("added", name, "shift augmentation: random affine copy",
                        ranges={k: [round(a, 3), round(b, 3)] for k, (a, b) in ranges.items()})
            images = np.concatenate([images, np.stack(copies)])
            labels = np.concatenate([labels, np.tile(labels, settings.shift_copies)])
            files += added_files

    if settings.shuffle:
        order = rng.permutation(len(labels))
        images, labels, files = images[order], labels[order], [files[i] for i in order]
    return EngineeredSet(images, labels, files, log, ranges)


def _rebalance(images: np.ndarray, labels: np.ndarray, files: list[str],
               settings: EngineerSettings, rng: np.random.Generator,
               log: Changelog) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Oversample each class below the median (or largest) class size with jittered copies of
    its own images, so no image is merely repeated."""
    counts = Counter(labels.tolist())
    sizes = [counts.get(c, 0) for c in range(10)]
    target = int(np.median(sizes) if settings.rebalance == "median" else max(sizes))
    jitter = settings.oversample_jitter
    new_images, new_labels, new_files = [images], [labels], list(files)
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        missing = target - len(members)
        if missing <= 0 or not len(members):
            continue
        sources = rng.choice(members, missing, replace=True)
        new_images.append(np.stack([
            random_affine(images[s], rng, (-jitter.rotation, jitter.rotation),
                          (-jitter.shift, jitter.shift), (-jitter.shift, jitter.shift),
                          (1 - jitter.scale, 1 + jitter.scale)) for s in sources]))
        new_labels.append(np.full(missing, digit, dtype=labels.dtype))
        for k, s in enumerate(sources):
            name = f"{files[s]}+balance{k}"
            new_files.append(name)
            log.add("added", name, f"rebalance: class {digit} up to {target}", label=digit)
    return np.concatenate(new_images), np.concatenate(new_labels), new_files


def leaked_test_images(train_images: np.ndarray, test_images: np.ndarray) -> int:
    """How many training images are pixel-identical to a test image."""
    test_hashes = {pixel_hash(image) for image in test_images}
    return sum(pixel_hash(image) in test_hashes for image in train_images)


def as_image_set(engineered: EngineeredSet) -> ImageSet:
    return ImageSet(torch.from_numpy(engineered.images).unsqueeze(1).contiguous(),
                    torch.from_numpy(engineered.labels).long(), engineered.files)
