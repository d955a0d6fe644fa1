"""The references task 4's logit sizes are judged against: the smallest mean |logit| that a
given evaluation cross-entropy allows, and the temperature baseline (a trained model's logits
divided by T after training).

The bound (README, "Task 4"): a sample with K logits z and label y has cross-entropy
c = log(1 + sum_{j != y} exp(z_j - z_y)). For a given c, its mean |z| is smallest with every
non-target logit at 0 and the target logit at m(c) = ln((K - 1) / (e^c - 1)), which gives
mean |z| = m(c) / K. m is convex, so over a set with mean cross-entropy c the mean |z| is at
least max(0, m(c)) / K (Jensen).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch.nn import functional

from vvpipe.evaluation import Predictions, mean_logit_size


def logit_size_bound(cross_entropy: float, classes: int = 10) -> float:
    """The smallest mean |logit| of any logits whose mean cross-entropy is ``cross_entropy``."""
    if cross_entropy >= math.log(classes):
        return 0.0
    if cross_entropy <= 0:
        return math.inf  # a zero loss needs an infinite margin
    return math.log((classes - 1) / math.expm1(cross_entropy)) / classes


def temperature_for(logits: torch.Tensor, labels: torch.Tensor, cross_entropy: float,
                    iterations: int = 100) -> float | None:
    """The largest temperature T (the smallest logits) at which ``logits / T`` has mean
    cross-entropy ``cross_entropy``; None when no T reaches it.

    With b = 1 / T, the cross-entropy f(b) of b * logits is convex in b and f(0) = ln K, so
    {b : f(b) <= target} is an interval [b1, b2] and f > target on [0, b1): bisection finds b1
    from any b inside it."""
    def loss(inverse: float) -> float:
        return functional.cross_entropy(logits * inverse, labels).item()

    if cross_entropy >= math.log(logits.shape[1]):
        return math.inf
    inside = 1.0
    if loss(inside) > cross_entropy:
        # Look for the minimum of the convex f (ternary search) and whether it is low enough.
        low, high = 0.0, 64.0
        for _ in range(iterations):
            a, b = low + (high - low) / 3, high - (high - low) / 3
            low, high = (low, b) if loss(a) < loss(b) else (a, high)
        inside = (low + high) / 2
        if loss(inside) > cross_entropy:
            return None
    low, high = 0.0, inside
    for _ in range(iterations):
        middle = (low + high) / 2
        low, high = (middle, high) if loss(middle) > cross_entropy else (low, middle)
    return 1 / high


def temperature_curve(predictions: Predictions, temperatures: Sequence[float] = tuple(
        1.25 ** k for k in range(-2, 13))) -> list[dict[str, float]]:
    """The temperature baseline as a curve: for each T, the cross-entropy and mean logit size of
    ``predictions``' logits divided by T (T > 1 shrinks them, T < 1 sharpens them)."""
    logits = predictions.outputs.double()
    return [{"temperature": t,
             "cross_entropy": functional.cross_entropy(logits / t, predictions.labels).item(),
             "mean_logit_size": mean_logit_size(predictions) / t} for t in temperatures]


def frontier_choice(rows: Sequence[dict], max_cross_entropy_change: float = 0.05,
                    max_accuracy_drop: float = 0.005) -> dict | None:
    """The default on the frontier: of the rows whose mean validation cross-entropy is at most
    ``max_cross_entropy_change`` above the reference's and whose mean validation accuracy is at
    most ``max_accuracy_drop`` below it, the one with the smallest mean logit-size ratio. Each
    row holds the means over seeds of the paired changes (chosen against the reference of the
    same seed); None when no row qualifies."""
    eligible = [row for row in rows
                if row["cross_entropy_change"] <= max_cross_entropy_change
                and row["accuracy_change"] >= -max_accuracy_drop]
    return min(eligible, key=lambda row: row["logit_size_ratio"], default=None)


def worst_over_profiles(profiles: Mapping[str, Sequence[dict]]) -> list[dict]:
    """For each loss run on every profile (rows matched by name, each holding the means over
    seeds as ``frontier_choice`` reads them), its worst figures over the profiles: the largest
    cross-entropy change, the largest accuracy drop and the largest logit-size ratio."""
    by_name = [{row["name"]: row for row in rows} for rows in profiles.values()]
    shared = set.intersection(*(set(rows) for rows in by_name)) if by_name else set()
    return [{"name": name,
             "cross_entropy_change": max(rows[name]["cross_entropy_change"] for rows in by_name),
             "accuracy_change": min(rows[name]["accuracy_change"] for rows in by_name),
             "logit_size_ratio": max(rows[name]["logit_size_ratio"] for rows in by_name)}
            for name in sorted(shared)]


def bracket_on_limit(points: Mapping[float, Mapping[str, float]],
                     max_cross_entropy_change: float = 0.05) -> tuple[list[float], list[float]]:
    """The knob values of one loss member worth more seeds, and the losers, from one seed's
    ``points`` ({value: {"cross_entropy_change": ..., "logit_size_ratio": ...}}): the
    smallest-size value within the limit and the next smaller-size one, past it, which bracket
    where the member meets the limit. Every other value has larger logits at a passing loss or
    is further past the limit. One value is kept when every value passes (the smallest) or every
    value fails (the one with the largest logits, the nearest to passing)."""
    ranked = sorted(points, key=lambda value: points[value]["logit_size_ratio"])
    passing = [value for value in ranked
               if points[value]["cross_entropy_change"] <= max_cross_entropy_change]
    if passing:
        best = ranked.index(passing[0])
        kept = ranked[max(0, best - 1):best + 1]
    else:
        kept = ranked[-1:]
    return kept, [value for value in ranked if value not in kept]
