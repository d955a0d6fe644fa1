"""Training callbacks: small objects with clear hooks and a ``state_dict`` for resuming."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from vvpipe.training import EpochLog, Trainer


class Callback:
    """Hooks the trainer calls; each does nothing unless overridden."""

    def on_fit_start(self, trainer: Trainer) -> None:
        pass

    def on_train_batch_end(self, trainer: Trainer, loss: torch.Tensor) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, log: EpochLog) -> None:
        pass

    def on_fit_end(self, trainer: Trainer) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class DVCLiveLogger(Callback):
    """Per-epoch curves (train/val loss, val accuracy, learning rate) through DVCLive.

    ``dvcyaml=False`` because ``dvc.yaml`` declares the plots itself, and ``save_dvc_exp=False``
    because the run is a pipeline stage, not an experiment of its own.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.live = None

    def on_fit_start(self, trainer: Trainer) -> None:
        from dvclive import Live

        self.live = Live(str(self.directory), dvcyaml=False, save_dvc_exp=False, report=None,
                         resume=trainer.epoch > 0)

    def on_epoch_end(self, trainer: Trainer, log: EpochLog) -> None:
        assert self.live is not None, "on_fit_start was not called"
        self.live.step = log.epoch
        for name, value in asdict(log).items():
            if name != "epoch":
                self.live.log_metric(name, value)
        self.live.next_step()

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.live is not None:
            self.live.end()
