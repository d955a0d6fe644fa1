"""Example grids of the analysis: flagged labels, duplicates, anomalies, train beside test."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vvpipe.files import atomic_output

def examples(images, labels, checks, flagged, predicted, confidence, quality, exact,
              test_images, count) -> dict[str, tuple[np.ndarray, list[str]]]:
    worst = [i for i in np.argsort(np.nan_to_num(quality, nan=2.0)) if flagged[i]][:count]
    examples = {"label_issues": (images[worst], [f"given {labels[i]} → {predicted[i]} "
                                                 f"({confidence[i]:.2f})" for i in worst])}
    biggest = sorted(exact.values(), key=len, reverse=True)[:count]
    examples["duplicates"] = (images[[m[0] for m in biggest]],
                              [f"×{len(m)}, labels {sorted(set(labels[m].tolist()))}"
                               for m in biggest])
    corrupted = []
    for kind in ("blank", "saturated", "noise", "inverted"):
        corrupted += [(i, kind) for i in np.flatnonzero(getattr(checks, kind))[:max(1, count // 4)]]
    examples["anomalies"] = (images[[i for i, _ in corrupted]],
                             [f"{kind}, label {labels[i]}" for i, kind in corrupted])
    half = count // 2
    rng = np.random.default_rng(0)
    train_pick = rng.choice(len(images), min(half, len(images)), replace=False)
    test_pick = rng.choice(len(test_images), min(half, len(test_images)), replace=False)
    examples["train_vs_test"] = (np.concatenate([checks.upright[train_pick], test_images[test_pick]]),
                                 ["train"] * len(train_pick) + ["test"] * len(test_pick))
    return examples


def save_grid(images: np.ndarray, captions: list[str], title: str, path) -> None:
    """A PNG of up to a few dozen images with a caption each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 8
    rows = max(1, -(-len(images) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.6, rows * 1.8 + 0.4))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, image, caption in zip(np.atleast_1d(axes).ravel(), images, captions):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(caption, fontsize=7)
    figure.suptitle(title if len(images) else f"{title}: none found", fontsize=10)
    figure.tight_layout()
    with atomic_output(Path(path)) as partial:
        figure.savefig(partial, dpi=80, format="png")
    plt.close(figure)
