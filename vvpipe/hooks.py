"""What the trainer and its callbacks share: the batches it is given, the log of an epoch, and
the hooks a callback may implement. Callbacks never call each other; they read and write the
trainer (its model, optimizer, ``monitor``, ``improved`` and ``should_stop``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from vvpipe.errors import ParamsError
from vvpipe.settings.train import MONITORED

if TYPE_CHECKING:
    from vvpipe.training import Trainer

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class EpochLog:
    """What the original loop prints after every epoch (means are over batches)."""

    epoch: int
    train_loss: float
    lr: float
    val_loss: float
    val_accuracy: float




class Monitor:
    """Which epoch is the best so far, by one logged value. The trainer owns the one monitor of a
    run and updates it before the callbacks see the epoch, so "best" means the same to all."""

    def __init__(self, name: str, mode: str = "min") -> None:
        if name not in MONITORED:
            raise ParamsError(f"monitor {name!r} is not a value the trainer logs; "
                              f"one of {list(MONITORED)}")
        self.name, self.mode = name, mode
        self.best: float | None = None
        self.best_epoch: int | None = None

    def value(self, log: EpochLog) -> float:
        return getattr(log, self.name)

    def better(self, value: float, than: float | None, min_delta: float = 0.0) -> bool:
        """Whether ``value`` beats ``than`` by more than ``min_delta`` (anything finite beats None)."""
        if not math.isfinite(value):
            return False
        if than is None:
            return True
        return value < than - min_delta if self.mode == "min" else value > than + min_delta

    def update(self, log: EpochLog) -> bool:
        """Record the epoch; True when it is the new best."""
        value = self.value(log)
        if self.better(value, self.best):
            self.best, self.best_epoch = value, log.epoch
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]


class Callback:
    """Hooks the trainer calls; each does nothing unless overridden. ``state_key`` names the
    callback's state in a checkpoint (its class name unless given), so two of one kind can
    coexist under two keys."""

    def __init__(self, state_key: str | None = None) -> None:
        self._state_key = state_key

    @property
    def state_key(self) -> str:
        return getattr(self, "_state_key", None) or type(self).__name__

    def on_fit_start(self, trainer: Trainer) -> None:
        pass

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        pass

    def on_train_batch_end(self, trainer: Trainer, loss: torch.Tensor) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, log: EpochLog) -> None:
        pass

    def on_non_finite_loss(self, trainer: Trainer, epoch: int) -> bool:
        """The epoch's training loss is NaN or infinite; return True to stop cleanly instead of
        raising (after putting finite weights back)."""
        return False

    def on_fit_end(self, trainer: Trainer) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
