import math

import pytest
import torch

from vvpipe.evaluation import Predictions, classification_metrics, confusion_rows, mean_logit_size


def test_metrics_over_samples_and_over_batches():
    # Batch 1: three samples, all right; batch 2: one sample, wrong.
    outputs = torch.tensor([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0], [5.0, 0.0]])
    labels = torch.tensor([0, 1, 0, 1])
    metrics = classification_metrics(Predictions(outputs, labels, [3, 1]))
    assert metrics["accuracy"] == 0.75
    assert metrics["batch_mean_accuracy"] == 0.5
    small, large = math.log1p(math.exp(-5)), 5 + math.log1p(math.exp(-5))
    assert metrics["cross_entropy"] == pytest.approx((3 * small + large) / 4, rel=1e-6)
    assert metrics["batch_mean_cross_entropy"] == pytest.approx((small + large) / 2, rel=1e-6)
    assert metrics["samples"] == 4
    assert confusion_rows(Predictions(outputs, labels, [3, 1]))[-1] == {"actual": 1, "predicted": 0}


def test_the_logit_size_is_the_mean_of_each_batch_mean():
    """The SPEC's definition: a short last batch weighs as much as a full one."""
    logits = torch.cat([torch.ones(4, 10), torch.full((1, 10), -3.0)])
    predictions = Predictions(logits, torch.zeros(5, dtype=torch.int64), [4, 1])
    assert mean_logit_size(predictions) == pytest.approx((1 + 3) / 2)
    assert logits.abs().mean().item() == pytest.approx((4 + 3) / 5)  # the per-sample figure
