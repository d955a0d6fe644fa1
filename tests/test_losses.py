import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from vvpipe.config import load, parse
from vvpipe.errors import NonFiniteLossError, ParamsError
from vvpipe.data import TensorBatches
from vvpipe.evaluation import Predictions, logit_size_metrics
from vvpipe.losses import LogitSizeLoss, PenaltyWarmup
from vvpipe.settings.task4 import PLAIN_CROSS_ENTROPY, Task4Settings
from vvpipe.models import ModelTask4
from vvpipe.training import Trainer

LOGITS = torch.tensor([[3.0, -1.0, 0.0], [1.0, 2.0, -3.0]])
LABELS = torch.tensor([0, 2])


def loss_with(**settings) -> LogitSizeLoss:
    weights = settings.pop("weights", {})
    plain = PLAIN_CROSS_ENTROPY
    return LogitSizeLoss(replace(plain, weights=replace(plain.weights, **weights), **settings))


def test_default_settings_are_plain_cross_entropy():
    logits = torch.randn(16, 10, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(16) % 10
    assert torch.equal(loss_with()(logits, labels), nn.CrossEntropyLoss()(logits, labels))


@pytest.mark.parametrize("settings, expected", [
    ({"weights": {"l2": 0.5}}, 0.5 * (9 + 1 + 0 + 1 + 4 + 9) / 6),
    ({"weights": {"l1": 2.0}}, 2.0 * (3 + 1 + 0 + 1 + 2 + 3) / 6),
    # Non-target logits only: row 0 keeps -1 and 0, row 1 keeps 1 and 2.
    ({"weights": {"l1": 1.0}, "penalise": "non_target"}, (1 + 0 + 1 + 2) / 4),
    ({"weights": {"l2": 1.0}, "penalise": "non_target"}, (1 + 0 + 1 + 4) / 4),
    ({"weights": {"centre": 3.0}}, 3.0 * ((2 / 3) ** 2 + 0) / 2),
    ({"weights": {"zloss": 0.1}},
     0.1 * (math.log(math.exp(3) + math.exp(-1) + 1) ** 2
            + math.log(math.exp(1) + math.exp(2) + math.exp(-3)) ** 2) / 2),
    # Target logits 3 and -3: only the first is above a margin of 1, by 2.
    ({"weights": {"above_margin": 0.5}, "target_margin": 1.0}, 0.5 * (2 + 0) / 2),
    # Margins 3 - 0 = 3 and -3 - 2 = -5: mean -1, population variance 16.
    ({"weights": {"margin_spread": 0.1}}, 0.1 * 16),
])
def test_each_penalty_is_its_formula(settings, expected):
    loss = loss_with(**settings)
    cross_entropy = nn.functional.cross_entropy(LOGITS, LABELS).item()
    assert loss(LOGITS, LABELS).item() == pytest.approx(cross_entropy + expected, rel=1e-6)


def test_scaled_cross_entropy_with_weight_one_over_scale_keeps_the_gradient_bounded():
    logits = (10 * LOGITS).requires_grad_()
    loss_with(ce_scale=20.0, ce_weight=1 / 20)(logits, LABELS).backward()
    expected = torch.softmax(20 * logits.detach(), dim=1) - nn.functional.one_hot(LABELS, 3)
    assert torch.allclose(logits.grad, expected / len(LABELS), atol=1e-6)
    # Scaling the logits down by the same factor gives the same prediction and the same loss.
    assert loss_with(ce_scale=4.0)(LOGITS / 4, LABELS).item() == pytest.approx(
        nn.functional.cross_entropy(LOGITS, LABELS).item(), rel=1e-6)


def test_the_penalties_ramp_up_over_the_warmup_epochs(digits):
    loss = loss_with(warmup_epochs=4, weights={"l1": 1.0})
    assert loss.ramp == 0.0  # before the first epoch: cross-entropy alone
    ramps = []

    class Record(PenaltyWarmup):
        def on_epoch_start(self, trainer, epoch):
            super().on_epoch_start(trainer, epoch)
            ramps.append(self.loss.ramp)

    model = ModelTask4()
    batches = TensorBatches(digits.images, digits.labels, 100, False)
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.001), loss,
                      callbacks=[Record(loss)], eval_loss_fn=nn.CrossEntropyLoss(), progress=False)
    trainer.fit(batches, batches, epochs=6)
    assert ramps == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    no_warmup = loss_with(weights={"l1": 1.0})
    ce = nn.functional.cross_entropy(LOGITS, LABELS).item()
    loss.start_epoch(2)
    assert loss(LOGITS, LABELS).item() == pytest.approx(ce + 0.5 * (no_warmup(LOGITS, LABELS) - ce))


def test_a_non_finite_training_loss_stops_the_run(digits):
    model = ModelTask4()
    batches = TensorBatches(digits.images, digits.labels, 100, False)
    # Logits times 1e38 overflow to infinity, and the cross-entropy of infinities is NaN.
    loss = loss_with(ce_scale=1e38, weights={"zloss": 1.0})
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.001), loss,
                      eval_loss_fn=nn.CrossEntropyLoss(), progress=False)
    with pytest.raises(NonFiniteLossError, match="training loss became nan in epoch 1"):
        trainer.fit(batches, batches, epochs=2)


GOOD = {"epochs": 3, "lr": 0.001, "momentum": 0.9}


@pytest.mark.parametrize("loss, message", [
    ({"weights": {"l1": -0.5}}, r"task4\.loss\.weights\.l1 must be 0 or more, got -0\.5"),
    ({"weights": {"z_loss": 1.0}}, r"unknown key task4\.loss\.weights\.z_loss \(did you mean "
                                   r"task4\.loss\.weights\.zloss\?\)"),
    ({"weights": {"hinge": 1.0}}, r"unknown key task4\.loss\.weights\.hinge; allowed keys"),
    ({"penalise": "target"}, r"task4\.loss\.penalise must be one of \['all', 'non_target'\]"),
    ({"ce_scale": 0}, r"task4\.loss\.ce_scale must be positive"),
    ({"ce_weight": -1}, r"task4\.loss\.ce_weight must be positive"),
    ({"warmup_epochs": -2}, r"task4\.loss\.warmup_epochs must be 0 or more"),
    ({"target_margin": -1}, r"task4\.loss\.target_margin must be 0 or more"),
    ({"weights": {"margin_spread": -0.1}},
     r"task4\.loss\.weights\.margin_spread must be 0 or more"),
    ({"name": "focal"}, r"unknown key task4\.loss\.name"),
])
def test_bad_loss_settings_name_the_key(loss, message):
    with pytest.raises(ParamsError, match=message):
        parse(Task4Settings, {**GOOD, "loss": loss}, "task4")


def test_the_repository_task4_params_are_valid():
    """The optimizer is the task's fixed one; the budget (epochs, set size) is task 4's own."""
    settings = load(Task4Settings, "task4")
    assert settings.lr == 0.001 and settings.momentum == 0.9 and settings.batch_size == 256


def test_logit_size_metrics():
    # Batch 1: mean |z| 1 and 3; batch 2: mean |z| 6.
    outputs = torch.tensor([[1.0, -1.0], [3.0, -3.0], [6.0, -6.0]])
    metrics = logit_size_metrics(Predictions(outputs, torch.tensor([0, 0, 1]), [2, 1]))
    assert metrics["mean_logit_size"] == pytest.approx((2 + 6) / 2)
    assert metrics["max_abs_logit"] == 6.0
    norms = [math.sqrt(2), 3 * math.sqrt(2), 6 * math.sqrt(2)]
    assert metrics["logit_norm_p50"] == pytest.approx(norms[1])
    assert metrics["logit_norm_p99"] == pytest.approx(norms[1] + 0.98 * (norms[2] - norms[1]))
