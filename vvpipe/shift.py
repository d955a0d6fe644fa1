"""How far the training images' properties are from the test images': two-sample KS tests per
property, with effect sizes."""

from __future__ import annotations

import numpy as np
from scipy import stats

from vvpipe.properties import MATCHED_PROPERTIES, SHIFT_PROPERTIES, image_properties

def shift_statistics(train: dict[str, np.ndarray], test: dict[str, np.ndarray],
                     alpha: float, min_effect: float) -> dict[str, dict]:
    """Per property: KS two-sample distance and p-value, the standardised mean difference and
    the spread ratio, and whether it counts as a shift (p below ``alpha`` and distance at least
    ``min_effect``)."""
    result = {}
    for name in (p for p in SHIFT_PROPERTIES if p in train and p in test):
        a, b = train[name].astype(np.float64), test[name].astype(np.float64)
        ks = stats.ks_2samp(a, b)
        pooled = np.sqrt((a.var() + b.var()) / 2)
        result[name] = {
            "train_mean": float(a.mean()), "test_mean": float(b.mean()),
            "train_std": float(a.std()), "test_std": float(b.std()),
            "ks_distance": float(ks.statistic), "p_value": float(ks.pvalue),
            "standardised_mean_difference": float((b.mean() - a.mean()) / pooled) if pooled else 0.0,
            "spread_ratio": float(b.std() / a.std()) if a.std() > 0 else float("inf"),
            "shifted": bool(ks.pvalue < alpha and ks.statistic >= min_effect),
        }
    return result


def ks_table(images: np.ndarray, test_images: np.ndarray) -> dict[str, float]:
    """KS distance between the images' and the test images' distribution of each property."""
    ours, theirs = image_properties(images), image_properties(test_images)
    return {name: round(float(stats.ks_2samp(ours[name], theirs[name]).statistic), 4)
            for name in MATCHED_PROPERTIES}
