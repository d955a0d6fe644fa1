"""Classification metrics of a model on a validation split or the test set (per-sample figures
and the original script's per-batch means), and the headline a metrics file keeps of them."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vvpipe.files import atomic_output
from vvpipe.hooks import Batches


@dataclass
class Predictions:
    outputs: torch.Tensor  # (N, 10) what the model returns (probabilities or logits)
    labels: torch.Tensor  # (N,)
    batch_sizes: list[int]


@torch.no_grad()
def predict(model: nn.Module, batches: Batches) -> Predictions:
    model.eval()
    outputs, labels, sizes = [], [], []
    for images, batch_labels in batches:
        outputs.append(model(images).cpu())
        labels.append(batch_labels.cpu())
        sizes.append(len(batch_labels))
    return Predictions(torch.cat(outputs), torch.cat(labels), sizes)


def _batch_means(values: torch.Tensor, batch_sizes: list[int]) -> float:
    """The mean of each batch's mean, as the original script averages."""
    bounds = np.cumsum([0, *batch_sizes])
    return float(np.mean([values[a:b].mean().item()
                          for a, b in zip(bounds[:-1], bounds[1:])]))


def classification_metrics(predictions: Predictions) -> dict[str, float]:
    """Accuracy and mean cross-entropy over all samples, and the original per-batch means.

    The loss is ``CrossEntropyLoss`` applied to whatever the model returns, as the original
    evaluates it (for models 1 and 3 those are softmax probabilities).
    """
    losses = nn.functional.cross_entropy(predictions.outputs, predictions.labels, reduction="none")
    correct = (predictions.outputs.argmax(1) == predictions.labels).double()
    return {
        "accuracy": correct.mean().item(),
        "cross_entropy": losses.double().mean().item(),
        "batch_mean_accuracy": _batch_means(correct, predictions.batch_sizes),
        "batch_mean_cross_entropy": _batch_means(losses, predictions.batch_sizes),
        "samples": len(predictions.labels),
    }


# What a task's metrics file holds, for every model it evaluates: the figures a user compares
# across commits and experiments. Everything else an evaluation measures goes to its report.
HEADLINE = ("accuracy", "cross_entropy", "min_class_recall", "val_accuracy")


def on_test(metrics: dict) -> dict:
    """``metrics`` of a test-set evaluation, with its sample count named ``test_samples``."""
    return {("test_samples" if key == "samples" else key): value for key, value in metrics.items()}


def scored(test: Predictions, val: Predictions, val_matched: Predictions | None = None) -> dict:
    """A model's full record: its test figures, per-class test recall and its figures on the
    validation split every choice was made on (and on its test-matched copy, where there is
    one)."""
    val_metrics = classification_metrics(val)
    recall = per_class_recall(test)
    record = {**on_test(classification_metrics(test)),
              "min_class_recall": min(recall.values()), "recall_per_class": recall,
              "val_accuracy": val_metrics["accuracy"],
              "val_cross_entropy": val_metrics["cross_entropy"], "val_samples": val_metrics["samples"]}
    if val_matched is not None:
        record.update(val_matched_accuracy=classification_metrics(val_matched)["accuracy"],
                      val_matched_min_class_recall=min(per_class_recall(val_matched).values()))
    return record


def headline(record: dict, extra: tuple[str, ...] = ()) -> dict:
    """The figures of ``record`` a metrics file keeps (``HEADLINE`` and ``extra``)."""
    return {key: record[key] for key in (*HEADLINE, *extra)}


def mean_logit_size(predictions: Predictions) -> float:
    """The task's logit size, the one definition used everywhere (metrics, curves, sweeps): per
    batch the mean |logit| over all entries, then the mean over batches."""
    return _batch_means(predictions.outputs.double().abs().mean(dim=1), predictions.batch_sizes)


def logit_size_metrics(predictions: Predictions) -> dict[str, float]:
    """How large a model's raw logits are: ``mean_logit_size``, and the tail: the largest |logit|
    and percentiles of each sample's logit-vector norm (L2)."""
    logits = predictions.outputs.double()
    norms = logits.norm(dim=1)
    return {
        "mean_logit_size": mean_logit_size(predictions),
        "max_abs_logit": logits.abs().max().item(),
        "logit_norm_p50": norms.quantile(0.50).item(),
        "logit_norm_p90": norms.quantile(0.90).item(),
        "logit_norm_p99": norms.quantile(0.99).item(),
    }


def evaluate(model: nn.Module, batches: Batches) -> tuple[dict[str, float], Predictions]:
    predictions = predict(model, batches)
    return classification_metrics(predictions), predictions


def confusion_rows(predictions: Predictions) -> list[dict[str, int]]:
    """One ``{"actual", "predicted"}`` row per test sample, for DVC's confusion template."""
    predicted = predictions.outputs.argmax(1).tolist()
    return [{"actual": a, "predicted": p} for a, p in zip(predictions.labels.tolist(), predicted)]


def per_class_recall(predictions: Predictions) -> dict[str, float]:
    """Share of each class's samples predicted as that class."""
    predicted = predictions.outputs.argmax(1)
    return {str(int(c)): round((predicted[predictions.labels == c] == c).double().mean().item(), 4)
            for c in predictions.labels.unique()}


def write_confusion(path: Path, predictions: Predictions) -> None:
    """One actual/predicted row per test sample, for DVC's confusion-matrix template."""
    with atomic_output(path) as partial, open(partial, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["actual", "predicted"])
        writer.writeheader()
        writer.writerows(confusion_rows(predictions))
