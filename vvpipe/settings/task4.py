"""params.yaml:task4: task 4's run and its logit-size-aware loss."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from vvpipe.config import require, require_choice
from vvpipe.settings.train import TrainSettings


PENALISED_LOGITS = ("all", "non_target")


@dataclass(frozen=True)
class PenaltyWeights:
    """Weights of the logit-size penalties added to the cross-entropy; 0 switches one off."""

    l2: float = 0.0  # mean z² over the penalised logits (logit squeezing)
    l1: float = 6.4  # mean |z| over the penalised logits
    zloss: float = 0.0  # mean (log Σ exp z)²
    centre: float = 0.0  # mean (mean over classes of z)²: CE cannot see a common offset
    above_margin: float = 1.0  # mean max(0, z_y - target_margin): caps the target logit
    margin_spread: float = 0.0  # variance over the batch of z_y - max_{j≠y} z_j

    def validate(self, where: str) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            require(value >= 0, f"{where}.{field.name}", f"must be 0 or more, got {value}")


@dataclass(frozen=True)
class LossSettings:
    """Task 4's training loss: ``ce_weight``·CE(``ce_scale``·z) plus weighted penalties on z."""

    ce_scale: float = 1.0
    ce_weight: float = 8.0
    penalise: str = "non_target"  # which logits the l1 and l2 penalties act on
    warmup_epochs: int = 0  # the penalty weights ramp up linearly over these epochs
    target_margin: float = 5.5  # where weights.above_margin starts to push the target logit down
    weights: PenaltyWeights = PenaltyWeights()

    def validate(self, where: str) -> None:
        require(self.ce_scale > 0, f"{where}.ce_scale", f"must be positive, got {self.ce_scale}")
        require(self.ce_weight > 0, f"{where}.ce_weight", f"must be positive, got {self.ce_weight}")
        require_choice(self.penalise, PENALISED_LOGITS, f"{where}.penalise")
        require(self.warmup_epochs >= 0, f"{where}.warmup_epochs",
                f"must be 0 or more, got {self.warmup_epochs}")
        require(self.target_margin >= 0, f"{where}.target_margin",
                f"must be 0 or more, got {self.target_margin}")


# The reference model's loss: plain cross-entropy, every penalty off.
PLAIN_CROSS_ENTROPY = LossSettings(ce_weight=1.0, penalise="all", target_margin=0.0,
                                   weights=PenaltyWeights(l1=0.0, above_margin=0.0))


@dataclass(frozen=True)
class Task4Settings(TrainSettings):
    """Task 4: ModelTask4 on task 1's data and loaders, SGD lr 0.001, with its own training loss.

    ``train_samples`` (0: all) trains both models on a seeded, stratified share of task 1's
    engineered set: task 4 compares two losses, so it needs the same set for both, not all of it.
    """

    loss: LossSettings = LossSettings()
    train_samples: int = 20480

    def validate(self, where: str) -> None:
        super().validate(where)
        require(self.train_samples >= 0, f"{where}.train_samples",
                f"must be 0 (all) or more, got {self.train_samples}")
