"""Whether every class is still being learned: a callback that watches each class on the
validation split and stops a run early once a class is dead.

Why a class dies in the fixed setup of tasks 1 and 3: the model ends in Softmax and the loss is
CrossEntropyLoss on those probabilities p. The loss's gradient with respect to p is bounded
(softmax(p) - onehot), and the inner softmax multiplies it by p_k (1 - p_k) on the way back to
the pre-softmax value z_k. Once class k's images are confidently given to other classes
(p_k close to 0 on all of them), the gradient that would raise z_k vanishes with p_k, and no
later epoch brings the class back. ``ClassHealth`` measures exactly that: each class's own
validation recall and the mean probability its own images give it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from vvpipe.hooks import Batches, Callback, EpochLog

if TYPE_CHECKING:
    from vvpipe.training import Trainer


@torch.no_grad()
def class_health(model: torch.nn.Module, batches: Batches, classes: int = 10) -> dict[str, list]:
    """Per class, on its own images: recall and mean output probability."""
    was_training = model.training
    model.eval()
    hits, mass, count = torch.zeros(classes), torch.zeros(classes), torch.zeros(classes)
    for images, labels in batches:
        outputs = model(images).float().cpu()
        labels = labels.cpu()
        own = outputs.gather(1, labels[:, None])[:, 0]
        count += torch.bincount(labels, minlength=classes)[:classes].float()
        hits += torch.bincount(labels[outputs.argmax(1) == labels], minlength=classes)[:classes].float()
        mass += torch.zeros(classes).index_add_(0, labels, own)
    model.train(was_training)
    seen = count.clamp(min=1)
    return {"recall": (hits / seen).tolist(), "own_probability": (mass / seen).tolist(),
            "images": count.int().tolist()}


class ClassHealth(Callback):
    """Records each class's validation recall and own-class probability after every epoch, and
    stops the run once, past ``grace`` epochs, some class has had zero recall for ``patience``
    epochs in a row while its own probability grew by less than ``min_growth`` over them.

    A collapsed class can come back late: measured on heavy-noise, one at 10^-3 doubled every few
    epochs from epoch 20 and was back in epoch 30 of 50, while one at 10^-4 stayed flat (x1.07
    in 3 epochs) to the end. So the grace is long, and a class on its way back is left alone;
    past that, the rest of the run would be wasted, and the recipe starts another attempt."""

    def __init__(self, val_batches: Batches, grace: int = 25, patience: int = 3,
                 min_growth: float = 1.25) -> None:
        self.val_batches, self.grace, self.patience = val_batches, grace, patience
        self.min_growth = min_growth
        self.history: list[dict[str, Any]] = []
        self.dead_for: dict[int, int] = {}
        self.dead_classes: list[int] = []

    def _flat(self, c: int) -> bool:
        now, before = (self.history[-1 - k]["own_probability"][c] for k in (0, self.patience))
        return now < self.min_growth * before

    def on_epoch_end(self, trainer: Trainer, log: EpochLog) -> None:
        health = class_health(trainer.model, self.val_batches)
        self.history.append({"epoch": log.epoch, **health})
        present = [c for c, n in enumerate(health["images"]) if n]
        for c in present:
            self.dead_for[c] = self.dead_for.get(c, 0) + 1 if health["recall"][c] == 0 else 0
        if log.epoch < self.grace or len(self.history) <= self.patience:
            return
        dead = [c for c in present if self.dead_for[c] >= self.patience and self._flat(c)]
        if dead:
            self.dead_classes = dead
            trainer.should_stop = True
            trainer.stop_reason = (f"class {', '.join(map(str, dead))} had no validation recall "
                                   f"for {self.patience} epochs and is not coming back "
                                   f"(epoch {log.epoch})")

    def last_recall(self) -> dict[str, float]:
        """Each present class's validation recall at the last epoch seen, rounded as the
        evaluation records round it."""
        last = self.history[-1]
        return {str(c): round(recall, 4)
                for c, (recall, images) in enumerate(zip(last["recall"], last["images"])) if images}

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, "dead_for": self.dead_for,
                "dead_classes": self.dead_classes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history, self.dead_classes = state["history"], state["dead_classes"]
        self.dead_for = {int(k): v for k, v in state["dead_for"].items()}


class ClassRescue(Callback):
    """Gives a class that falls behind more of the next pass, before it dies.

    The collapse happens while the model leaves the loss plateau of the first epochs: the classes
    it separates first take the shared features, and a small, hard class's own probability on its
    own training images falls ten-fold an epoch until the vanishing p_k (1 - p_k) leaves it no
    gradient. After every epoch this callback measures each class's mean own probability on a
    fixed, class-balanced sample of training images; a class below half the median class gets
    its lag (median / own, at most ``max_weight``) times its natural share of the next pass, the
    way group DRO up-weights the worst group. Nothing changes while every class keeps up, so a
    healthy run is the plain run; the weights lapse once the class has caught up.
    """

    # A class counts as behind once its own probability is under half the median class's.
    BEHIND = 2.0

    def __init__(self, sample_batches: Batches, max_weight: float, seed: int,
                 classes: int = 10) -> None:
        self.sample_batches, self.max_weight, self.classes = sample_batches, max_weight, classes
        self.generator = torch.Generator().manual_seed(seed)
        self.weights: list[float] | None = None
        self.history: list[dict[str, Any]] = []

    def _apply(self, trainer: Trainer) -> None:
        weights = None if self.weights is None else torch.tensor(self.weights)
        trainer.train_batches.draw_by_class(weights, self.generator)

    def on_fit_start(self, trainer: Trainer) -> None:
        self._apply(trainer)

    def on_epoch_end(self, trainer: Trainer, log: EpochLog) -> None:
        own = torch.tensor(class_health(trainer.model, self.sample_batches,
                                        self.classes)["own_probability"])
        lag = own.median() / own.clamp(min=1e-12)
        weights = torch.where(lag >= self.BEHIND, lag.clamp(max=self.max_weight), 1.0)
        self.weights = weights.tolist() if (weights > 1).any() else None
        self.history.append({"epoch": log.epoch, "own_probability": own.tolist(),
                             "weights": self.weights})
        self._apply(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.weights, "history": self.history,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.weights, self.history = state["weights"], state["history"]
        self.generator.set_state(state["generator"])
