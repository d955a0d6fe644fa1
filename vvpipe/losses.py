"""Task 4's training losses: cross-entropy that also keeps the model's raw logits small.

With z the logits of a sample and y its label (means over the batch, and for l1/l2 over the
penalised logits too):

    loss = w_ce·CE(s·z, y) + r(epoch)·(w_l2·mean z² + w_l1·mean |z| + w_z·(log Σ_j exp z_j)²
                                       + w_c·(mean_j z_j)² + w_a·mean max(0, z_y - m)
                                       + w_s·var(z_y - max_{j≠y} z_j))

``s`` (``ce_scale``) sharpens the softmax the cross-entropy sees, so the same confidence needs
logits ``s`` times smaller; the argmax, and so the accuracy, does not depend on the scale. The
gradient of CE(s·z) with respect to z is s·(softmax(s·z) - onehot(y)): ``w_ce`` = 1/s keeps it
as large as plain cross-entropy's, while ``w_ce`` = 1 lets ``s`` act as a larger step too.
``r`` ramps the penalties up from 0 to 1 over ``warmup_epochs`` so the model first learns the task.
The last two terms spend the margin evenly over the samples, the shape the logit-size bound is
reached with: ``w_a`` caps the target logit at the margin ``m`` (``target_margin``), so easy
samples stop growing it while the cross-entropy still drives hard ones up to it; ``w_s`` pulls
every sample's margin towards the batch's mean margin.
``w_ce`` = ``s`` = 1 and no penalty is plain cross-entropy, the reference.
"""

from __future__ import annotations


from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional

from vvpipe.hooks import Callback
from vvpipe.settings.task4 import LossSettings

if TYPE_CHECKING:
    from vvpipe.training import Trainer


def target_mask(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """True at each row's label: where the row's target logit is."""
    return functional.one_hot(labels, logits.shape[1]).bool()


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
                penalised = logits[~target_mask(logits, labels)]
            if weights.l2:
                terms["l2"] = weights.l2 * penalised.square().mean()
            if weights.l1:
                terms["l1"] = weights.l1 * penalised.abs().mean()
        if weights.zloss:
            terms["zloss"] = weights.zloss * torch.logsumexp(logits, dim=1).square().mean()
        if weights.centre:
            terms["centre"] = weights.centre * logits.mean(dim=1).square().mean()
        if weights.above_margin or weights.margin_spread:
            is_target = target_mask(logits, labels)
            target = logits[is_target]  # one per row, in row order
            if weights.above_margin:
                terms["above_margin"] = weights.above_margin * functional.relu(
                    target - self.settings.target_margin).mean()
            if weights.margin_spread:
                strongest_other = logits.masked_fill(is_target, -torch.inf).max(dim=1).values
                terms["margin_spread"] = weights.margin_spread * (
                    target - strongest_other).var(correction=0)
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
