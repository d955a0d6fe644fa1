"""Test-set metrics: per-sample figures plus the original script's per-batch means."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vvpipe.training import Batches


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


def classification_metrics(predictions: Predictions) -> dict[str, float]:
    """Accuracy and mean cross-entropy over all samples, and the original per-batch means.

    The loss is ``CrossEntropyLoss`` applied to whatever the model returns, as the original
    evaluates it (for models 1 and 3 those are softmax probabilities).
    """
    losses = nn.functional.cross_entropy(predictions.outputs, predictions.labels, reduction="none")
    correct = (predictions.outputs.argmax(1) == predictions.labels).double()
    bounds = np.cumsum([0, *predictions.batch_sizes])
    batch_loss = [losses[a:b].mean().item() for a, b in zip(bounds[:-1], bounds[1:])]
    batch_accuracy = [correct[a:b].mean().item() for a, b in zip(bounds[:-1], bounds[1:])]
    return {
        "accuracy": correct.mean().item(),
        "cross_entropy": losses.double().mean().item(),
        "batch_mean_accuracy": float(np.mean(batch_accuracy)),
        "batch_mean_cross_entropy": float(np.mean(batch_loss)),
        "test_samples": len(predictions.labels),
    }


def evaluate(model: nn.Module, batches: Batches) -> tuple[dict[str, float], Predictions]:
    predictions = predict(model, batches)
    return classification_metrics(predictions), predictions


def confusion_rows(predictions: Predictions) -> list[dict[str, int]]:
    """One ``{"actual", "predicted"}`` row per test sample, for DVC's confusion template."""
    predicted = predictions.outputs.argmax(1).tolist()
    return [{"actual": a, "predicted": p} for a, p in zip(predictions.labels.tolist(), predicted)]
