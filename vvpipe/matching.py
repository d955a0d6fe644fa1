"""Fitting the copies' degradation to the test images: coordinate descent on the sum of KS
distances between degraded copies of a class-balanced sample of training images and the
unlabelled test images, over every matched property (not only those that pass a significance
test: a modest shift still costs accuracy)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import fields, replace

import numpy as np
from scipy import stats

from vvpipe.settings.data import JitterSettings
from vvpipe.degradation import UNIFORMS, Degradation
from vvpipe.properties import MATCHED_PROPERTIES, image_properties
from vvpipe.shift import ks_table

FIT_SAMPLE = 1200  # training images (and up to 3x test images) the fit measures at each step
FIT_ROUNDS = 4
# A shift is claimed on fresh samples the descent never saw: its own value is the best of some
# 300 tries on one sample, so it flatters the fit (a margin of 0.008 once reversed on new images).
CHECK_SAMPLES = 5
CHECK_STANDARD_DEVIATIONS = 2.0
# name: (step of the first round, lowest, highest)
SEARCH = {
    "rotation_mean": (4.0, -45.0, 45.0), "rotation_spread": (5.0, 0.0, 45.0),
    "shift_x_mean": (0.5, -4.0, 4.0), "shift_y_mean": (0.5, -4.0, 4.0),
    "shift_spread": (0.75, 0.0, 5.0),
    "scale_mean": (0.05, 0.6, 1.4), "scale_spread": (0.05, 0.0, 0.4),
    "thickness_mean": (0.25, -1.0, 1.0), "thickness_spread": (0.25, 0.0, 1.0),
    "blur_share": (0.25, 0.0, 1.0), "blur_sigma": (0.4, 0.3, 3.0),
    "motion_share": (0.25, 0.0, 1.0), "motion_length": (1.5, 1.0, 9.0),
    "sharpen_share": (0.25, 0.0, 1.0), "sharpen_amount": (0.5, 0.0, 3.0),
    "contrast_share": (0.25, 0.0, 1.0), "contrast_low": (0.15, 0.1, 2.0),
    "contrast_high": (0.15, 0.1, 2.0),
    "noise_share": (0.25, 0.0, 1.0), "noise_sd": (5.0, 0.0, 40.0),
}
PHOTOMETRIC_MIDPOINT = {"blur_share": 0.5, "blur_sigma": 1.2, "motion_share": 0.5,
                        "motion_length": 4.0, "contrast_share": 0.5, "contrast_low": 0.55,
                        "noise_share": 0.5, "noise_sd": 15.0}
# The other way: sharper and stronger ink than the training images.
CRISP_MIDPOINT = {"sharpen_share": 0.5, "sharpen_amount": 1.0, "contrast_share": 0.5,
                  "contrast_low": 1.0, "contrast_high": 1.4}


def _moment_start(summary: dict, jitter: JitterSettings) -> Degradation:
    """A starting point from the measured means and spreads: the mean moves by the difference of
    means, and a uniform range adds the missing spread (a uniform on ±r has sd r/√3, and
    variances add)."""
    shift = summary.get("shift", {})

    def extra(name: str) -> tuple[float, float]:
        s = shift.get(name)
        if not s:
            return 0.0, 0.0
        return (s["test_mean"] - s["train_mean"],
                math.sqrt(3 * max(0.0, s["test_std"] ** 2 - s["train_std"] ** 2)))

    rotation, rotation_spread = extra("orientation")
    dx, spread_x = extra("centre_x")
    dy, spread_y = extra("centre_y")
    dh, spread_h = extra("height")
    train_height = max(shift.get("height", {}).get("train_mean", 1.0), 1.0)
    return Degradation(
        rotation_mean=rotation, rotation_spread=max(rotation_spread, jitter.rotation),
        shift_x_mean=dx, shift_y_mean=dy,
        shift_spread=max((spread_x + spread_y) / 2, jitter.shift),
        scale_mean=1 + dh / train_height,
        scale_spread=max(spread_h / train_height, jitter.scale))


def _motion_direction(summary: dict) -> float | None:
    """A common blur direction when the test images have one that the training images lack;
    a motion blur smooths along its line, so the gradients turn perpendicular to it."""
    directions = summary.get("blur_direction")
    if not directions:
        return None
    test, train = directions["test"], directions["train"]
    if test["concentration"] < 0.3 or test["concentration"] < 2 * train["concentration"]:
        return None
    return (test["mean_direction"] + 90) % 180


def class_balanced_sample(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of up to ``size`` images, as many of each class as the smallest allows: a class
    mix that differs from the test's is then not mistaken for a shift of the images."""
    classes = np.unique(labels)
    per_class = min(size // len(classes), min(int((labels == c).sum()) for c in classes))
    return np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class]
                           for c in classes])


def _descend(objective: Callable[[Degradation], float], current: Degradation, best: float,
             floors: dict[str, float]) -> tuple[Degradation, float, int]:
    """Coordinate descent from ``current``: each parameter tried at ±1 and ±2 steps (halved every
    round, never below its floor), a move kept when it lowers the objective by more than 1e-4.
    Returns the best degradation, its value and the number of evaluations."""
    evaluations = 0
    for round_ in range(FIT_ROUNDS):
        for name, (step, low, high) in SEARCH.items():
            step /= 2 ** round_
            low = max(low, floors.get(name, low))
            value = getattr(current, name)
            for candidate_value in (value - 2 * step, value - step, value + step, value + 2 * step):
                candidate_value = float(np.clip(candidate_value, low, high))
                if candidate_value == getattr(current, name):
                    continue
                candidate = replace(current, **{name: candidate_value})
                score = objective(candidate)
                evaluations += 1
                if score < best - 1e-4:
                    current, best = candidate, score
    return current, best, evaluations


def _ks_sum(images: np.ndarray, target: dict[str, np.ndarray]) -> float:
    """The sum over the matched properties of the KS distances from the test images'."""
    props = image_properties(images)
    return float(sum(stats.ks_2samp(props[name], target[name]).statistic
                     for name in MATCHED_PROPERTIES))


def _check_on_fresh_samples(chosen: Degradation, train_images: np.ndarray,
                            train_labels: np.ndarray, fit_index: np.ndarray,
                            target: dict[str, np.ndarray], rng: np.random.Generator) -> dict:
    """How much closer to the test images the chosen copies are than the raw images, on
    ``CHECK_SAMPLES`` bootstrap samples, class-balanced and as large as the fit's, of the
    training images outside the fit's sample (of the whole set where some class has not half
    the fit's share left), each with new random draws. The shift is confirmed when the mean
    gain passes ``CHECK_STANDARD_DEVIATIONS`` times its spread over the samples: a gain that
    nearly any sample of the training set would show."""
    classes = np.unique(train_labels)
    per_class = len(fit_index) // len(classes)
    pool = np.setdiff1d(np.arange(len(train_labels)), fit_index)
    if min(int((train_labels[pool] == c).sum()) for c in classes) < max(1, (per_class + 1) // 2):
        pool = np.arange(len(train_labels))
    members = [pool[train_labels[pool] == c] for c in classes]
    raw, copies = [], []
    for _ in range(CHECK_SAMPLES):
        images = train_images[np.concatenate([rng.choice(m, per_class) for m in members])]
        raw.append(_ks_sum(images, target))
        copies.append(_ks_sum(chosen.apply(images, rng), target))
    gains = np.subtract(raw, copies)
    mean, spread = float(gains.mean()), float(gains.std(ddof=1))
    return {"samples": CHECK_SAMPLES, "images_per_sample": per_class * len(classes),
            "fresh_images": len(pool) < len(train_labels),
            "ks_sum_raw": [round(v, 4) for v in raw],
            "ks_sum_copies": [round(v, 4) for v in copies],
            "mean_gain": round(mean, 4), "gain_sd": round(spread, 4),
            "rule": f"mean gain > {CHECK_STANDARD_DEVIATIONS:g} x its sd",
            "confirmed": bool(mean > CHECK_STANDARD_DEVIATIONS * spread)}


def fit_degradation(train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray,
                    summary: dict, jitter: JitterSettings, seed: int) -> tuple[Degradation, dict]:
    """Coordinate descent on the sum of KS distances between degraded copies of a class-balanced
    sample of training images and the test images, over every matched property. Spreads stay at
    least the jitter's, so copies are never mere repeats. Starts from the moment estimate; keeps
    the bare jitter when that is closer, and reports the raw training images' distance beside."""
    rng = np.random.default_rng([seed, 7])
    fit_index = class_balanced_sample(train_labels, FIT_SAMPLE, rng)
    sample = train_images[fit_index]
    test_sample = test_images[rng.permutation(len(test_images))[:3 * FIT_SAMPLE]]
    uniforms = rng.random((len(sample), UNIFORMS))
    noise = rng.standard_normal(sample.shape)
    target = image_properties(test_sample)

    def objective(candidate: Degradation) -> float:
        return _ks_sum(candidate.apply(sample, rng, uniforms, noise), target)

    floors = {"rotation_spread": jitter.rotation, "shift_spread": jitter.shift,
              "scale_spread": jitter.scale}
    # A photometric transform moves nothing until both its share and its strength do, so the
    # descent also starts with them switched half on (degrading, or sharpening), and keeps the
    # best start.
    geometric = replace(_moment_start(summary, jitter), motion_direction=_motion_direction(summary))
    starts = [geometric, replace(geometric, **PHOTOMETRIC_MIDPOINT),
              replace(geometric, **CRISP_MIDPOINT)]
    values = [objective(start) for start in starts]
    current, best = starts[int(np.argmin(values))], min(values)
    start_value = best
    jitter_value = objective(Degradation.jitter_only(jitter))
    raw_value = objective(Degradation())
    current, best, steps = _descend(objective, current, best, floors)
    evaluations = len(starts) + 2 + steps
    fitted_value = best
    if jitter_value < best:
        current, best = Degradation.jitter_only(jitter), jitter_value
    check = _check_on_fresh_samples(current, train_images, train_labels, fit_index, target,
                                    np.random.default_rng([seed, 13]))
    # The raw images are measured, not chosen: copies that merely repeat their sources cost
    # task 1 on the default stand-in 0.937 against 0.966 on test, 0.965 against 0.967 on validation
    # (docs/robustness.md). Unless the check confirms that the copies beat the raw images, no
    # shift is claimed and the copies are only the nearest ones that do not repeat their sources.
    report = {
        "method": "coordinate descent on the sum of KS distances over "
                  f"{len(MATCHED_PROPERTIES)} properties, {len(sample)} training and "
                  f"{len(test_sample)} test images, {FIT_ROUNDS} rounds",
        "evaluations": evaluations,
        "ks_sum": {"raw": round(raw_value, 4), "jitter_only": round(jitter_value, 4),
                   "moment_start": round(start_value, 4), "fitted": round(fitted_value, 4),
                   "chosen": round(best, 4)},
        "chosen": "jitter_only" if current == Degradation.jitter_only(jitter) else "fitted",
        "shift_check": check,
        "shift_measured": check["confirmed"],
        "ks_train_vs_test": ks_table(sample, test_sample),
        "parameters": {f.name: getattr(current, f.name) for f in fields(current)},
    }
    return current, report
