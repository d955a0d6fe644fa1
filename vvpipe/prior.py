"""The test set's class prior, estimated from unlabelled test pixels, checked against its own
error, and bounded before it may change a training set.

EM re-estimation (``em_prior``) assumes that p(x | y) is the same in training and test;
under a covariate shift it is not, and EM then drifts far from the truth. Black-box shift
estimation (BBSE; Lipton, Wang & Smola, 2018) corrects for what the classifier does on shifted
images: it measures the confusion matrix on *test-matched copies* of held-out training images,
C[i, j] = mean p(predicted i | true j), and solves C w = q for the prior w, where q is the mean
prediction on the test images. Whatever estimate comes out, ``bounded_shares`` keeps each class
within a ratio of uniform set in params.yaml, so no estimate can starve a class or grow a set
without limit.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

RESAMPLES = 200


def total_variation(a: np.ndarray, b: np.ndarray) -> float:
    return float(0.5 * np.abs(np.asarray(a) - np.asarray(b)).sum())


def soft_confusion(probabilities: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """C[i, j]: the mean probability given to class i by images of true class j."""
    confusion = np.zeros((classes, classes))
    for j in range(classes):
        members = labels == j
        if members.any():
            confusion[:, j] = probabilities[members].mean(0)
    return confusion


def bbse(confusion: np.ndarray, test_mean: np.ndarray) -> np.ndarray:
    """The prior w >= 0, summing to 1, that best explains the test's mean prediction:
    least squares on C w = q (non-negative), then normalised."""
    weights, _ = nnls(confusion, test_mean)
    total = weights.sum()
    return weights / total if total > 0 else np.full(len(test_mean), 1 / len(test_mean))


def _halves(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    first, second = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        first.append(members[: len(members) // 2])
        second.append(members[len(members) // 2:])
    return np.concatenate(first), np.concatenate(second)


def estimate_prior(copy_probabilities: np.ndarray, copy_labels: np.ndarray,
                   test_probabilities: np.ndarray, seed: int, min_effect: float) -> dict:
    """BBSE estimate of the test prior, with its bootstrap standard error and its own error on
    a set whose prior is known to be uniform.

    ``copy_probabilities`` are the out-of-fold predictions on test-matched copies of an exactly
    balanced sample of training images (``copy_labels``). The estimate counts as different from
    uniform only beyond ``max(min_effect, 3 standard errors)`` plus the estimator's error when one
    half of the copies' confusion matrix is used to estimate the (uniform) prior of the other."""
    classes = copy_probabilities.shape[1]
    uniform = np.full(classes, 1 / classes)
    confusion = soft_confusion(copy_probabilities, copy_labels, classes)
    estimate = bbse(confusion, test_probabilities.mean(0))
    rng = np.random.default_rng([seed, 11])

    first, second = _halves(copy_labels, rng)
    if min(np.bincount(copy_labels, minlength=classes)) < 2:
        self_error = 1.0  # too few copies to measure its own error: the estimate never acts
    else:
        self_error = float(np.mean([
            total_variation(bbse(soft_confusion(copy_probabilities[a], copy_labels[a], classes),
                                 copy_probabilities[b].mean(0)), uniform)
            for a, b in ((first, second), (second, first))]))

    boot = []
    by_class = [np.flatnonzero(copy_labels == c) for c in range(classes)]
    for _ in range(RESAMPLES):
        rows = np.concatenate([rng.choice(m, len(m)) for m in by_class if len(m)])
        test_rows = rng.integers(0, len(test_probabilities), len(test_probabilities))
        boot.append(bbse(soft_confusion(copy_probabilities[rows], copy_labels[rows], classes),
                         test_probabilities[test_rows].mean(0)))
    boot = np.array(boot)
    distance = total_variation(estimate, uniform)
    distance_se = float(np.std([total_variation(b, uniform) for b in boot]))
    threshold = max(min_effect, 3 * distance_se) + float(self_error)
    return {
        "method": "BBSE (Lipton et al. 2018): soft confusion matrix of the fold models on "
                  "test-matched copies of a balanced, held-out training sample; "
                  f"{RESAMPLES} bootstrap resamples",
        "estimate": {str(c): round(float(p), 4) for c, p in enumerate(estimate)},
        "standard_error": {str(c): round(float(e), 4) for c, e in enumerate(boot.std(0))},
        "distance_from_uniform": distance, "distance_standard_error": distance_se,
        "estimator_error_on_uniform_copies": float(self_error),
        "min_effect": min_effect, "threshold": threshold,
        "copies_checked": int(len(copy_labels)),
        "differs_from_uniform": bool(distance > threshold),
    }


def bounded_shares(prior: np.ndarray, max_ratio: float) -> np.ndarray:
    """Class shares proportional to ``prior`` but each within [1/max_ratio, max_ratio] times
    uniform, summing to 1: classes past a bound are pinned to it and the rest share what is left
    in their estimated proportions."""
    prior = np.maximum(np.asarray(prior, dtype=np.float64), 0.0)
    k = len(prior)
    low, high = 1 / (k * max_ratio), max_ratio / k
    shares = np.full(k, 1 / k)
    free = np.ones(k, dtype=bool)
    while free.any():
        left = 1 - shares[~free].sum()
        mass = prior[free].sum()
        shares[free] = prior[free] / mass * left if mass > 0 else left / free.sum()
        outside = free & ((shares > high) | (shares < low))
        if not outside.any():
            break
        shares[outside] = np.clip(shares[outside], low, high)
        free &= ~outside
    return shares / shares.sum()


def em_prior(probabilities: np.ndarray, train_prior: np.ndarray, iterations: int = 100,
             tolerance: float = 1e-8) -> np.ndarray:
    """The class prior of an unlabelled set by EM re-estimation (Saerens, Latinne & Decaestecker,
    2002): re-weight each posterior by new prior / training prior, renormalise, average, repeat."""
    prior = train_prior.copy()
    ratio_base = np.where(train_prior > 0, 1 / np.maximum(train_prior, 1e-12), 0.0)
    for _ in range(iterations):
        adjusted = probabilities * (prior * ratio_base)[None, :]
        adjusted /= np.maximum(adjusted.sum(1, keepdims=True), 1e-12)
        new = adjusted.mean(0)
        if np.abs(new - prior).max() < tolerance:
            return new
        prior = new
    return prior


def estimate_test_prior(probabilities: np.ndarray, train_labels: np.ndarray, classes: int,
                        seed: int, resamples: int = 200, min_effect: float = 0.05) -> dict:
    """The test set's class prior from unlabelled predictions, with a bootstrap standard error.
    On its own it would count as different from uniform when its total-variation distance from
    uniform exceeds both ``min_effect`` and three bootstrap standard errors; ``engineer`` adds
    the estimator's own error under the measured shift before it acts (``prior_differs``)."""
    train_prior = np.bincount(train_labels, minlength=classes)[:classes] / max(len(train_labels), 1)
    estimate = em_prior(probabilities, train_prior)
    rng = np.random.default_rng(seed)
    uniform = np.full(classes, 1 / classes)
    boot = np.array([em_prior(probabilities[rng.integers(0, len(probabilities),
                                                         len(probabilities))], train_prior)
                     for _ in range(resamples)])
    distance = 0.5 * np.abs(estimate - uniform).sum()
    distance_se = float((0.5 * np.abs(boot - uniform).sum(1)).std())
    return {"method": "EM re-estimation (Saerens et al. 2002) on the cross-validation models' "
                      f"mean test probabilities; {resamples} bootstrap resamples",
            "estimate": {str(c): round(float(p), 4) for c, p in enumerate(estimate)},
            "train_prior": {str(c): round(float(p), 4) for c, p in enumerate(train_prior)},
            "standard_error": {str(c): round(float(e), 4) for c, e in enumerate(boot.std(0))},
            "distance_from_uniform": float(distance), "distance_standard_error": distance_se,
            "min_effect": min_effect,
            "differs_from_uniform": bool(distance > max(min_effect, 3 * distance_se))}
