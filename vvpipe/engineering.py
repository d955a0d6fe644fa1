"""Turning the analysis into a better training set: each remedy is one switch in params.yaml,
and every image dropped, changed, held out or added is written to the changelog with its reason.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from vvpipe.data import ImageSet, stratified_split
from vvpipe.degradation import Degradation
from vvpipe.duplicates import pixel_hash
from vvpipe.errors import DataError, ParamsError
from vvpipe.label_check import CrossValidation
from vvpipe.matching import FIT_SAMPLE, class_balanced_sample, fit_degradation
from vvpipe.prior import bounded_shares, estimate_prior
from vvpipe.settings.data import EngineerSettings
from vvpipe.shift import ks_table


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


@dataclass(frozen=True)
class Schedule:
    """The fixed training schedule the engineered set feeds: it decides the optimizer steps."""

    epochs: int
    batch_size: int
    max_steps: int | float = math.inf  # the hard ceiling on optimizer steps in all epochs

    def images_for(self, min_steps: int) -> int:
        """The smallest set that gives at least ``min_steps`` optimizer steps in all epochs."""
        return math.ceil(min_steps / self.epochs) * self.batch_size

    def ceiling(self) -> int | float:
        """The largest set whose steps in all epochs stay within ``max_steps``."""
        if not math.isfinite(self.max_steps):
            return math.inf
        return int(self.max_steps // self.epochs) * self.batch_size

    def check_reaches(self, min_steps: int, run: str, data: str | None = None) -> None:
        """Fail before any work when the ceiling of ``run``'s schedule leaves no room for the
        steps the size rule of ``engineer.<data>`` aims for."""
        if math.isfinite(self.ceiling()) and min_steps > self.steps(self.ceiling())["total_steps"]:
            raise ParamsError(f"{run}.max_steps ({self.max_steps:,}) is below the "
                              f"engineer.{data or run}.min_steps ({min_steps:,}) the size rule "
                              "aims for: raise the ceiling or lower min_steps")

    def steps(self, images: int) -> dict[str, int]:
        per_epoch = math.ceil(images / self.batch_size)
        return {"steps_per_epoch": per_epoch, "total_steps": per_epoch * self.epochs}


@dataclass
class EngineeredSet:
    images: np.ndarray
    labels: np.ndarray
    files: list[str]  # source file, with "+<kind><n>" for added copies
    changelog: Changelog
    val_images: np.ndarray = field(default_factory=lambda: np.zeros((0, 28, 28), np.uint8))
    val_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    val_files: list[str] = field(default_factory=list)
    report: dict = field(default_factory=dict)
    # The validation images degraded as the test-matched copies are, where a shift is measured.
    val_matched_images: np.ndarray | None = None


@dataclass
class _Split:
    """Images with their labels and file names, as the remedies hand them on."""

    images: np.ndarray
    labels: np.ndarray
    files: list[str]

    def take(self, index: np.ndarray) -> _Split:
        return _Split(self.images[index], self.labels[index], [self.files[i] for i in index])


def engineer(train: ImageSet, findings: list[dict], summary: dict, settings: EngineerSettings,
             schedule: Schedule | None = None, test_images: np.ndarray | None = None,
             cross_validation: CrossValidation | None = None) -> EngineeredSet:
    """Apply each switched-on remedy to the training set, in this order: quarantine bad input,
    drop test look-alikes, corrupted images and duplicates, repair polarity, fix labels, hold
    out the validation split, grow and balance the rest with copies that match the test
    images' measured properties, shuffle. Where a shift is measured, the validation split also
    gets a test-matched copy: the only held-out figure that can see the shift."""
    log = Changelog()
    rng = np.random.default_rng(settings.seed)
    rows = _findings_per_image(train, findings)
    images, labels = train.images[:, 0].numpy().copy(), train.labels.numpy().copy()
    keep = np.ones(len(rows), dtype=bool)

    def drop(i: int, reason: str, **details) -> None:
        keep[i] = False
        log.add("dropped", rows[i]["file"], reason, label=int(labels[i]), **details)

    _quarantine_bad_input(summary, log)
    _drop_untrusted(rows, summary, settings, drop)
    _repair_and_relabel(rows, images, labels, keep, settings, log, drop)
    index = np.flatnonzero(keep)
    cleaned = _Split(images[index], labels[index], [rows[i]["file"] for i in index])
    folds = np.array([rows[i].get("cv_fold", -1) for i in index], dtype=np.int64)
    classes_cleaned = class_counts(cleaned.labels)

    in_val = _hold_out_validation(cleaned, settings.validation, rng, log)
    val, kept = cleaned.take(np.flatnonzero(in_val)), cleaned.take(np.flatnonzero(~in_val))
    folds = folds[~in_val]

    degradation, fit_report = Degradation.jitter_only(settings.oversample_jitter), None
    if settings.match_test and test_images is not None and len(kept.labels):
        degradation, fit_report = fit_degradation(kept.images, kept.labels, test_images, summary,
                                                  settings.oversample_jitter, settings.seed)
    val_matched = None
    if fit_report is not None and fit_report["shift_measured"]:
        # A stream of its own, so that the training set is the same with it or without it.
        val_matched = degradation.apply(val.images, np.random.default_rng([settings.seed, 11]))
    prior = summary.get("test_prior")
    if prior is not None and cross_validation is not None and test_images is not None:
        prior = prior_check(prior, kept.images, kept.labels, folds, degradation,
                            cross_validation, test_images, rng)
    targets, sizing = class_targets(kept.labels, settings, schedule, prior)
    grown = _Split(*_thin(kept.images, kept.labels, kept.files, targets, rng, log))
    grown = _Split(*_grow(grown.images, grown.labels, grown.files, targets, degradation, rng, log))
    if fit_report is not None:
        _measure_copies(fit_report, grown, test_images, rng)
    if settings.shuffle:
        grown = grown.take(rng.permutation(len(grown.labels)))
    report = {
        "sizing": {**sizing, **(schedule.steps(len(grown.labels)) if schedule else {}),
                   "images_after": len(grown.labels)},
        "classes_cleaned": classes_cleaned,
        "classes_after": class_counts(grown.labels),
        "validation": {"fraction": settings.validation, "images": len(val.labels),
                       "classes": class_counts(val.labels),
                       "test_matched_copy": val_matched is not None},
        "copies": {"images": int(sum("+copy" in f for f in grown.files)),
                   "degradation": asdict(degradation)},
        "test_matching": fit_report,
        "test_prior": prior,
    }
    return EngineeredSet(grown.images, grown.labels, grown.files, log, val.images, val.labels,
                         val.files, report, val_matched)


def _findings_per_image(train: ImageSet, findings: list[dict]) -> list[dict]:
    """The analysis' row for each training image, in the set's order."""
    by_file = {row["file"]: row for row in findings}
    if len(by_file) != len(train.files) or set(by_file) != set(train.files):
        raise DataError("the analysis findings do not describe this training set: re-run analyze")
    return [by_file[f] for f in train.files]


def _quarantine_bad_input(summary: dict, log: Changelog) -> None:
    """What the reader skipped or converted, in the changelog with the reason extract gave."""
    for bad in summary["bad_input"]:
        log.add("quarantined", bad["path"], f"bad input: {bad['reason']}")


def _drop_untrusted(rows: list[dict], summary: dict, settings: EngineerSettings,
                    drop: Callable[..., None]) -> None:
    """Images converted by the reader, copies of test images, corrupted images, inverted ones
    (unless repaired) and every exact duplicate but the first of its group."""
    unusual = {b["path"].split("/train/", 1)[-1] for b in summary["bad_input"]
               if b["kind"] == "unusual_mode"}
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


def _repair_and_relabel(rows: list[dict], images: np.ndarray, labels: np.ndarray,
                        keep: np.ndarray, settings: EngineerSettings, log: Changelog,
                        drop: Callable[..., None]) -> None:
    """Re-invert dark-on-light digits; relabel the confidently flagged label issues and drop the
    rest of them (or keep them, as ``label_errors`` says)."""
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


def _hold_out_validation(cleaned: _Split, fraction: float, rng: np.random.Generator,
                         log: Changelog) -> np.ndarray:
    """Which images of the cleaned set form the stratified validation split."""
    val_index = stratified_split(cleaned.labels, fraction, rng)
    in_val = np.zeros(len(cleaned.labels), dtype=bool)
    in_val[val_index] = True
    for i in val_index:
        log.add("held out", cleaned.files[i], "validation split")
    return in_val


def _measure_copies(fit_report: dict, grown: _Split, test_images: np.ndarray,
                    rng: np.random.Generator) -> None:
    """KS distances to the test images of the copies and of the raw images, each as a
    class-balanced sample, so that they compare like with like."""
    is_copy = np.array(["+copy" in f for f in grown.files])
    for name, members in (("copies", np.flatnonzero(is_copy)), ("raw", np.flatnonzero(~is_copy))):
        if len(members):
            pick = members[class_balanced_sample(grown.labels[members], FIT_SAMPLE, rng)]
            fit_report[f"ks_{name}_vs_test"] = table = ks_table(grown.images[pick], test_images)
            fit_report[f"ks_sum_{name}_vs_test"] = round(sum(table.values()), 4)


PRIOR_CHECK_PER_CLASS = 300


def prior_check(prior: dict, images: np.ndarray, labels: np.ndarray, folds: np.ndarray,
                degradation: Degradation, cross_validation: CrossValidation,
                test_images: np.ndarray, rng: np.random.Generator) -> dict:
    """The test prior by BBSE on test-matched copies of an exactly balanced sample of training
    images, each scored by the fold model that never saw its source; the test images are
    scored by all fold models. Replaces analyze's EM estimate, which assumes no shift (kept in
    the report as ``em_estimate``)."""
    classes = np.unique(labels)
    sample = [rng.permutation(np.flatnonzero((labels == c) & (folds >= 0)))[:PRIOR_CHECK_PER_CLASS]
              for c in classes]
    smallest = min(len(s) for s in sample)
    sample = np.concatenate([s[:smallest] for s in sample])
    copies = degradation.apply(images[sample], rng)
    copy_probabilities = cross_validation.out_of_fold(copies, folds[sample])
    test_probabilities = cross_validation.mean_probabilities(test_images)
    result = estimate_prior(copy_probabilities, labels[sample], test_probabilities,
                            int(rng.integers(2**31)), prior["min_effect"])
    return {**result, "em_estimate": prior["estimate"],
            "em_distance_from_uniform": prior["distance_from_uniform"]}


def class_counts(labels: np.ndarray) -> dict[str, int]:
    return {str(c): int((labels == c).sum()) for c in np.unique(labels)}


def class_targets(labels: np.ndarray, settings: EngineerSettings, schedule: Schedule | None,
                  prior: dict | None) -> tuple[dict[int, int], dict]:
    """How many images each class should have after growing (or, past the ceiling, after
    thinning).

    The total is the largest of: the set as it is; the size that gives the fixed schedule
    ``min_steps`` optimizer steps; the size at which copies make up ``matched_share`` of the set;
    the size at which no class has to shrink. With ``balance`` the classes share it uniformly, or
    by the estimated test prior where that measurably differs, each class's share held within
    ``prior_max_ratio`` of uniform. The total never passes the ceiling: the larger of the set as
    it is and the size that gives ``max_steps`` steps; past it, classes over their share are
    thinned."""
    classes = [int(c) for c in np.unique(labels)]
    counts = np.array([(labels == c).sum() for c in classes], dtype=np.float64)
    needed = schedule.images_for(settings.min_steps) if schedule and settings.min_steps else 0
    ceiling = max(counts.sum(), schedule.ceiling()) if schedule else math.inf
    for_share = counts.sum() / (1 - settings.matched_share)
    use_prior = False
    if settings.balance:
        use_prior = bool(prior and prior.get("differs_from_uniform")) and settings.prior_max_ratio > 1
        estimate = (np.array([prior["estimate"][str(c)] for c in classes]) if use_prior
                    else np.ones(len(classes)))
        weights = bounded_shares(estimate, settings.prior_max_ratio)
    else:
        weights = counts / counts.sum()
    wanted = max(counts.sum(), needed, for_share, (counts / weights).max())
    total = min(wanted, ceiling)
    targets = {c: math.ceil(total * w) if wanted > ceiling else max(int(n), math.ceil(total * w))
               for c, n, w in zip(classes, counts, weights)}
    if sum(targets.values()) > ceiling:  # rounding each class up passed it: share it exactly
        targets = dict(zip(classes, apportion(int(ceiling), weights).tolist()))
    return targets, {
        "rule": "images = min(max(cleaned set, ceil(min_steps / epochs) * batch_size, "
                "cleaned / (1 - matched_share), classes balanced to the largest), ceiling)",
        "min_steps": settings.min_steps, "images_for_min_steps": needed,
        "ceiling": int(ceiling) if math.isfinite(ceiling) else None,
        "images_wanted": int(math.ceil(wanted)), "clipped_at_ceiling": bool(wanted > ceiling),
        "images_before": int(counts.sum()), "balanced_to": "estimated test prior" if use_prior
        else ("uniform" if settings.balance else "training proportions"),
        "class_shares": {str(c): round(float(w), 4) for c, w in zip(classes, weights)},
    }


def apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """``total`` split into whole counts in proportion to ``weights``, adding up to exactly
    ``total``: each count is its share rounded down, and what is left goes to the largest
    remainders. Since every share has at least its rounded-down part, a class that fit its share
    of ``total`` before rounding still does."""
    exact = total * np.asarray(weights, dtype=np.float64) / np.sum(weights)
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(-(exact - counts), kind="stable")[:total - int(counts.sum())]] += 1
    return counts


def _thin(images: np.ndarray, labels: np.ndarray, files: list[str], targets: dict[int, int],
          rng: np.random.Generator, log: Changelog) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Drop random images of each class that is over its target (only past the ceiling)."""
    keep = np.ones(len(labels), dtype=bool)
    for digit, target in targets.items():
        members = np.flatnonzero(labels == digit)
        for i in rng.permutation(members)[: max(0, len(members) - target)]:
            keep[i] = False
            log.add("dropped", files[i], f"size ceiling: class {digit} down to {target}",
                    label=int(digit))
    if keep.all():
        return images, labels, files
    return images[keep], labels[keep], [f for f, k in zip(files, keep) if k]


def _grow(images: np.ndarray, labels: np.ndarray, files: list[str], targets: dict[int, int],
          degradation: Degradation, rng: np.random.Generator,
          log: Changelog) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Fill each class up to its target with degraded copies of its own images, each source
    used as evenly as possible, so no image is merely repeated."""
    new_images, new_labels, new_files = [images], [labels], list(files)
    for digit, target in targets.items():
        members = np.flatnonzero(labels == digit)
        missing = target - len(members)
        if missing <= 0 or not len(members):
            continue
        sources = np.concatenate([rng.permutation(members)
                                  for _ in range(-(-missing // len(members)))])[:missing]
        new_images.append(degradation.apply(images[sources], rng))
        new_labels.append(np.full(missing, digit, dtype=labels.dtype))
        for k, s in enumerate(sources):
            name = f"{files[s]}+copy{k}"
            new_files.append(name)
            log.add("added", name, f"growth: class {digit} up to {target}", label=int(digit))
    return np.concatenate(new_images), np.concatenate(new_labels), new_files


def leaked_test_images(train_images: np.ndarray, test_images: np.ndarray) -> int:
    """How many training images are pixel-identical to a test image."""
    test_hashes = {pixel_hash(image) for image in test_images}
    return sum(pixel_hash(image) in test_hashes for image in train_images)


def _image_set(images: np.ndarray, labels: np.ndarray, files: list[str]) -> ImageSet:
    return ImageSet(torch.from_numpy(images).unsqueeze(1).contiguous(),
                    torch.from_numpy(labels).long(), files)


def as_image_sets(engineered: EngineeredSet) -> dict[str, ImageSet]:
    """The sets a run's file holds: ``train``, ``val`` and, where there is one, ``val_matched``."""
    sets = {"train": _image_set(engineered.images, engineered.labels, engineered.files),
            "val": _image_set(engineered.val_images, engineered.val_labels, engineered.val_files)}
    if engineered.val_matched_images is not None:
        sets["val_matched"] = _image_set(engineered.val_matched_images, engineered.val_labels,
                                         [f"{name}+matched" for name in engineered.val_files])
    return sets
