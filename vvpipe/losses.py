"""Task 4's training losses: cross-entropy that also keeps the model's raw logits small.

With z the logits of a sample and y its label (means over the batch, and for l1/l2 over the
penalised logits too):

    loss = w_ce·CE(s·z, y) + r(epoch)·(w_l2·mean z² + w_l1·mean |z| + w_z·(log Σ_j exp z_j)²
                                       + w_c·(mean_j z_j)²)

``s`` (``ce_scale``) sharpens the softmax the cross-entropy sees, so the same confidence needs
logits ``s`` times smaller; the argmax, and so the accuracy, does not depend on the scale. The
gradient of CE(s·z) with respect to z is s·(softmax(s·z) - onehot(y)): ``w_ce`` = 1/s keeps it
as large as plain cross-entropy's, while ``w_ce`` = 1 lets ``s`` act as a larger step too.
``r`` ramps the penalties up from 0 to 1 over ``warmup_epochs`` so the model first learns the task.
``w_ce`` = ``s`` = 1 and no penalty is plain cross-entropy, the reference.
"""

from __future__ import annotations

import dataclasses

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional

from vvpipe.config import TrainSettings, require, require_choice
from vvpipe.hooks import Callback

if TYPE_CHECKING:
    from vvpipe.training import Trainer


PENALISED_LOGITS = ("all", "non_target")


@dataclasses.dataclass(frozen=True)
class PenaltyWeights:
    """Weights of the logit-size penalties added to the cross-entropy; 0 switches one off."""

    l2: float = 0.0  # mean z² over the penalised logits (logit squeezing)
    l1: float = 0.0  # mean |z| over the penalised logits
    zloss: float = 0.0  # mean (log Σ exp z)²
    centre: float = 0.0  # mean (mean over classes of z)²: CE cannot see a common offset

    def validate(self, where: str) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            require(value >= 0, f"{where}.{field.name}", f"must be 0 or more, got {value}")


@dataclasses.dataclass(frozen=True)
class LossSettings:
    """Task 4's training loss: ``ce_weight``·CE(``ce_scale``·z) plus weighted penalties on z."""

    ce_scale: float = 1.0
    ce_weight: float = 1.0
    penalise: str = "all"  # which logits the l1 and l2 penalties act on
    warmup_epochs: int = 0  # the penalty weights ramp up linearly over these epochs
    weights: PenaltyWeights = PenaltyWeights()

    def validate(self, where: str) -> None:
        require(self.ce_scale > 0, f"{where}.ce_scale", f"must be positive, got {self.ce_scale}")
        require(self.ce_weight > 0, f"{where}.ce_weight", f"must be positive, got {self.ce_weight}")
        require_choice(self.penalise, PENALISED_LOGITS, f"{where}.penalise")
        require(self.warmup_epochs >= 0, f"{where}.warmup_epochs",
                f"must be 0 or more, got {self.warmup_epochs}")


@dataclasses.dataclass(frozen=True)
class Task4Settings(TrainSettings):
    """Task 4: ModelTask4 on task 1's data and loaders, SGD lr 0.001, with its own training loss.

    ``train_samples`` (0: all) trains both models on a seeded, stratified share of task 1's
    engineered set: task 4 compares two losses, so it needs the same set for both, not all of it.
    """

    loss: LossSettings = LossSettings()
    train_samples: int = 0

    def validate(self, where: str) -> None:
        super().validate(where)
        require(self.train_samples >= 0, f"{where}.train_samples",
                f"must be 0 (all) or more, got {self.train_samples}")


class LogitSizeLoss(nn.Module):
    def __init__(self, settings: LossSettings) -> None:
        super().__init__()
        self.settings = settings
        self.ramp = 1.0 if settings.warmup_epochs == 0 else 0.0

    def start_epoch(self, epoch: int) -> None:
        """Set the penalties' warm-up factor for ``epoch`` (1-based)."""
        warmup = self.settings.warmup_epochs
        self.ramp = 1.0 if warmup == 0 else min(1.0, epoch / warmup)

    def penalties(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each switched-on penalty, weighted (before the warm-up factor)."""
        weights = self.settings.weights
        terms: dict[str, torch.Tensor] = {}
        if weights.l1 or weights.l2:
            penalised = logits
            if self.settings.penalise == "non_target":
                # The target logit carries the class; the others only need to stay below it.
                keep = torch.ones_like(logits, dtype=torch.bool)
                keep[torch.arange(len(labels), device=labels.device), labels] = False
                penalised = logits[keep]
            if weights.l2:
                terms["l2"] = weights.l2 * penalised.square().mean()
            if weights.l1:
                terms["l1"] = weights.l1 * penalised.abs().mean()
        if weights.zloss:
            terms["zloss"] = weights.zloss * torch.logsumexp(logits, dim=1).square().mean()
        if weights.centre:
            terms["centre"] = weights.centre * logits.mean(dim=1).square().mean()
        return terms

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss = self.settings.ce_weight * functional.cross_entropy(self.settings.ce_scale * logits,
                                                                  labels)
        terms = self.penalties(logits, labels)
        if terms and self.ramp:
            loss = loss + self.ramp * torch.stack(list(terms.values())).sum()
        return loss


class PenaltyWarmup(Callback):
    """Tells the loss which epoch is starting. It keeps no state of its own: the factor follows
    from the epoch, so a resumed run gets the same ramp."""

    def __init__(self, loss: LogitSizeLoss) -> None:
        self.loss = loss

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self.loss.start_epoch(epoch)
