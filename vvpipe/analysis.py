"""A careful look at a training set before training on it.

Everything here works from the pixels and the given labels alone: it knows nothing of how any
data set was made. Thresholds are robust statistics of the set itself (median and MAD) or
statistical levels from ``params.yaml``, so the same code judges data it has never seen.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from vvpipe.duplicates import duplicate_groups, near_duplicate_groups, pixel_hash
from vvpipe.figures import examples as example_grids
from vvpipe.label_check import CrossValidation, cross_validated_probabilities, label_issues
from vvpipe.prior import estimate_test_prior
from vvpipe.settings.data import AnalysisSettings
from vvpipe.properties import (MID_GREY, direction_summary, image_properties, is_inverted,
                               neighbour_correlation, robust_z)
from vvpipe.shift import shift_statistics


@dataclass
class ImageChecks:
    """Per-image findings that need no model."""

    inverted: np.ndarray
    blank: np.ndarray
    saturated: np.ndarray
    noise: np.ndarray
    upright: np.ndarray  # the images with inverted ones flipped back

    @property
    def corrupted(self) -> np.ndarray:
        return self.blank | self.saturated | self.noise


def check_images(images: np.ndarray, outlier_mad: float) -> ImageChecks:
    """Noise-like, blank and saturated images as robust outliers of the set's own smoothness,
    contrast and brightness; then the polarity of the rest."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    noise = robust_z(neighbour_correlation(images)) < -outlier_mad
    inverted = is_inverted(images) & ~noise
    upright = np.where(inverted[:, None, None], 255 - images, images)
    brightness = upright.reshape(len(images), -1).astype(np.float64).mean(1)
    # On a log scale, so that "almost no contrast at all" stands out from ordinary variation.
    blank = (robust_z(np.log1p(flat.std(1))) < -outlier_mad) & (brightness <= MID_GREY) & ~noise
    saturated = (robust_z(brightness) > outlier_mad) & ~noise & ~blank
    return ImageChecks(inverted & ~saturated & ~blank, blank, saturated, noise, upright)


def ordering(labels: np.ndarray, batch_size: int) -> dict:
    """What a loader that does not shuffle would feed: how many of its batches hold one class."""
    batches = [labels[s:s + batch_size] for s in range(0, len(labels), batch_size)]
    single = sum(len(np.unique(b)) == 1 for b in batches)
    mean_classes = float(np.mean([len(np.unique(b)) for b in batches]))
    runs = 1 + int((np.diff(labels) != 0).sum()) if len(labels) else 0
    return {"batch_size": batch_size, "batches": len(batches), "single_class_batches": int(single),
            "mean_classes_per_batch": mean_classes, "label_runs": runs,
            "class_sorted": bool(single > len(batches) / 2)}


def class_balance(labels: np.ndarray) -> dict:
    counts = Counter(labels.tolist())
    sizes = [counts.get(c, 0) for c in range(10)]
    return {"counts": {str(c): n for c, n in enumerate(sizes)},
            "imbalance_ratio": float(max(sizes) / max(min(sizes), 1)),
            "empty_classes": [str(c) for c, n in enumerate(sizes) if n == 0]}


@dataclass
class Analysis:
    summary: dict  # what reports/<task>/analysis.json holds
    findings: list[dict]  # one row per training image, for the engineer stage
    examples: dict[str, tuple[np.ndarray, list[str]]]  # grid name -> images and captions
    cross_validation: CrossValidation  # the label check's fold models, for the prior check


def _bad_input(inventory: dict, split_prefix: str) -> list[dict]:
    """What the extract stage found under this split that the reader skips or converts."""
    entries = [{**p, "kind": "unreadable"} for p in inventory.get("problems", [])]
    entries += [{**p, "kind": "stray"} for p in inventory.get("stray", [])]
    entries += [{"path": u["path"], "reason": f"not 8-bit grayscale ({u['mode']})",
                 "kind": "unusual_mode"} for u in inventory.get("unusual", [])]
    return [e for e in entries if e["path"].startswith(split_prefix)]


@dataclass
class _Duplicates:
    """Exact duplicates among the intact images, near duplicates, and copies of test images."""

    hashes: list[str]
    exact: dict[str, list[int]]
    near: list[list[int]]
    in_test: np.ndarray

    @property
    def group_of(self) -> dict[int, int]:
        return {i: g for g, members in enumerate(self.exact.values()) for i in members}

    @property
    def near_of(self) -> dict[int, int]:
        return {i: g for g, members in enumerate(self.near) for i in members}

    def conflicting(self, labels: np.ndarray) -> set[int]:
        return {g for g, members in enumerate(self.exact.values())
                if len(set(labels[members].tolist())) > 1}

    def summary(self, labels: np.ndarray) -> dict:
        total = sum(len(m) for m in self.exact.values())
        return {"groups": len(self.exact), "images": total,
                "redundant_copies": total - len(self.exact),
                "groups_with_conflicting_labels": len(self.conflicting(labels)),
                "largest_group": max((len(m) for m in self.exact.values()), default=0)}


def find_duplicates(images: np.ndarray, checks: ImageChecks,
                    test_images: np.ndarray) -> _Duplicates:
    hashes = [pixel_hash(image) for image in images]
    # Corrupted images are often identical (all blank, say); they are reported as corrupted.
    intact = np.flatnonzero(~checks.corrupted)
    exact = {h: intact[members].tolist()
             for h, members in duplicate_groups([hashes[i] for i in intact]).items()}
    test_hashes = {pixel_hash(image) for image in test_images}
    return _Duplicates(hashes, exact, near_duplicate_groups(checks.upright, exact),
                       np.array([h in test_hashes for h in hashes]))


@dataclass
class _LabelCheck:
    """Out-of-fold probabilities of the usable images and cleanlab's verdict on them."""

    usable: np.ndarray  # indices of the images the check scored
    probabilities: np.ndarray  # (n, 10), NaN for the others
    test_probabilities: np.ndarray
    cross_validation: CrossValidation
    flagged: np.ndarray
    quality: np.ndarray
    noise: dict[str, float]

    @property
    def predicted(self) -> np.ndarray:
        scored = ~np.isnan(self.probabilities[:, 0])
        return np.where(scored, np.nan_to_num(self.probabilities).argmax(1), -1)

    @property
    def confidence(self) -> np.ndarray:
        scored = ~np.isnan(self.probabilities[:, 0])
        return np.where(scored, np.nan_to_num(self.probabilities).max(1), np.nan)


def check_labels(checks: ImageChecks, labels: np.ndarray, hashes: list[str],
                 test_checks: ImageChecks, settings: AnalysisSettings, device: torch.device,
                 progress: bool) -> _LabelCheck:
    n = len(labels)
    index = np.flatnonzero(~checks.corrupted)
    probabilities = np.full((n, 10), np.nan)
    probabilities[index], test_probabilities, cv = cross_validated_probabilities(
        checks.upright[index], labels[index], np.array([hashes[i] for i in index]), settings,
        device, progress, unlabelled=test_checks.upright)
    flagged = np.zeros(n, dtype=bool)
    quality = np.full(n, np.nan)
    flagged[index], quality[index], noise = label_issues(labels[index], probabilities[index],
                                                         settings.label_filter)
    return _LabelCheck(index, probabilities, test_probabilities, cv, flagged, quality, noise)


def measure_shift(checks: ImageChecks, test_checks: ImageChecks, usable: np.ndarray,
                  settings: AnalysisSettings) -> tuple[dict, dict]:
    """The shift statistics per property, and the blur direction of each set."""
    train_shape = image_properties(checks.upright[usable])
    train_shape["inverted"] = checks.inverted[usable].astype(np.float64)
    test_shape = image_properties(test_checks.upright)
    test_shape["inverted"] = test_checks.inverted.astype(np.float64)
    shift = shift_statistics(train_shape, test_shape, settings.shift_alpha,
                             settings.shift_min_effect)
    blur_direction = {name: direction_summary(props["blur_direction"], props["anisotropy"])
                      for name, props in (("train", train_shape), ("test", test_shape))}
    return shift, blur_direction


def _findings(files: list[str], labels: np.ndarray, checks: ImageChecks, dups: _Duplicates,
              labelled: _LabelCheck) -> list[dict]:
    """One row per training image, for the engineer stage."""
    group_of, near_of = dups.group_of, dups.near_of
    conflicting = dups.conflicting(labels)
    fold_of = dict(zip(labelled.usable.tolist(), labelled.cross_validation.folds.tolist()))
    predicted, confidence, quality = labelled.predicted, labelled.confidence, labelled.quality
    return [{
        "file": files[i], "label": int(labels[i]), "pixel_hash": dups.hashes[i],
        "duplicate_group": group_of.get(i, -1), "conflicting_labels": group_of.get(i, -1) in conflicting,
        "near_duplicate_group": near_of.get(i, -1),
        "inverted": bool(checks.inverted[i]), "blank": bool(checks.blank[i]),
        "saturated": bool(checks.saturated[i]), "noise": bool(checks.noise[i]),
        "label_issue": bool(labelled.flagged[i]), "predicted": int(predicted[i]),
        "confidence": None if np.isnan(confidence[i]) else round(float(confidence[i]), 4),
        "label_quality": None if np.isnan(quality[i]) else round(float(quality[i]), 4),
        "in_test": bool(dups.in_test[i]), "cv_fold": int(fold_of.get(i, -1)),
    } for i in range(len(labels))]


def analyse(images: np.ndarray, labels: np.ndarray, files: list[str], test_images: np.ndarray,
            inventory: dict, task: str, settings: AnalysisSettings, device: torch.device,
            progress: bool = True) -> Analysis:
    """Every check of the analysis on one training set. ``test_images`` are pixels only: the
    test labels are never read here."""
    n = len(labels)
    checks = check_images(images, settings.outlier_mad)
    dups = find_duplicates(images, checks, test_images)
    test_checks = check_images(test_images, settings.outlier_mad)
    labelled = check_labels(checks, labels, dups.hashes, test_checks, settings, device, progress)
    index = labelled.usable
    shift, blur_direction = measure_shift(checks, test_checks, index, settings)
    flagged, predicted = labelled.flagged, labelled.predicted
    summary = {
        "task": task, "train_images": n, "test_images": len(test_images),
        "class_balance": class_balance(labels),
        "duplicates": dups.summary(labels),
        "near_duplicates": {"groups": len(dups.near), "images": sum(len(m) for m in dups.near)},
        "anomalies": {"inverted": int(checks.inverted.sum()), "blank": int(checks.blank.sum()),
                      "saturated": int(checks.saturated.sum()), "noise": int(checks.noise.sum())},
        "label_issues": {"flagged": int(flagged.sum()), "share": float(flagged.sum() / max(n, 1)),
                         "method": f"cleanlab find_label_issues ({settings.label_filter}) on "
                                   f"{settings.cv_folds}-fold out-of-fold probabilities",
                         "out_of_fold_accuracy": float((predicted[index] == labels[index]).mean()),
                         "estimated_noise_per_class": labelled.noise},
        "shift": shift,
        "shifted_properties": [name for name, s in shift.items() if s["shifted"]],
        "blur_direction": blur_direction,
        "test_prior": estimate_test_prior(labelled.test_probabilities, labels[index], 10,
                                          settings.seed, min_effect=settings.prior_min_effect),
        "ordering": ordering(labels, settings.loader_batch_size),
        "test_images_in_training_set": int(dups.in_test.sum()),
        "bad_input": _bad_input(inventory, f"{task}/train/"),
    }
    examples = example_grids(images, labels, checks, flagged, predicted, labelled.confidence,
                             labelled.quality, dups.exact, test_images, settings.grid_examples)
    return Analysis(summary, _findings(files, labels, checks, dups, labelled), examples,
                    labelled.cross_validation)
