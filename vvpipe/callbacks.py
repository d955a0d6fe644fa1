"""Task 2's training callbacks: small objects with clear hooks and a ``state_dict`` for resuming,
independent of each other. They talk through the trainer: its ``monitor`` says which epoch is
the best and ``improved`` whether this one is. The one dependency between two of them is explicit:
``EarlyStopping`` that puts the best weights back is given the ``BestWeights`` that keeps them.

The trainer calls the hooks of its callbacks in list order; a checkpoint callback goes last so it
saves the state every other callback has just updated.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.optim import lr_scheduler, swa_utils

from vvpipe.files import atomic_output
from vvpipe.hooks import Batches, Callback, EpochLog

if TYPE_CHECKING:
    from vvpipe.training import Trainer


def _cpu_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class BestWeights(Callback):
    """Keeps a copy of the weights of the trainer's best epoch (its ``monitor``)."""

    def __init__(self, state_key: str | None = None) -> None:
        super().__init__(state_key)
        self.weights: dict[str, torch.Tensor] | None = None

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.monitor is None:
            raise ValueError("BestWeights needs a trainer with a monitor")

    def on_epoch_end(self, trainer: Trainer, log: EpochLog) -> None:
        if trainer.improved:
            self.weights = _cpu_copy(trainer.model)

    def restore(self, trainer: Trainer) -> bool:
        """Put the best weights into the trainer's model; False when there are none yet."""
        if self.weights is None:
            return False
        trainer.model.load_state_dict(self.weights)
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.weights = state["weights"]


class EarlyStopping(Callback):
    """Stops once the monitored value has gone ``patience`` epochs without beating its reference
    by more than ``min_delta`` (``wait >= patience``, as Lightning and Keras count), when it
    passes ``divergence_threshold``, or when it or the training loss is not finite.

    From ``suspend_from_epoch`` on (the SWA phase) only the safety stops apply: SWA explores at a
    constant learning rate on purpose, and the running weights' plateau says nothing about the
    averaged model. Given the ``BestWeights`` callback of the run (``best``), it puts the best
    weights back on a non-finite loss, since the current ones are unusable, and with
    ``restore_best_weights`` also at the end; without it, a non-finite loss fails the run.
    """

    def __init__(self, patience: int, min_delta: float = 0.0,
                 divergence_threshold: float | None = None, restore_best_weights: bool = False,
                 suspend_from_epoch: int | None = None, best: BestWeights | None = None,
                 state_key: str | None = None) -> None:
        super().__init__(state_key)
        if restore_best_weights and best is None:
            raise ValueError("restore_best_weights needs the BestWeights callback that keeps them")
        self.best = best
        self.patience, self.min_delta = patience, min_delta
        self.divergence_threshold = divergence_threshold
        self.restore_best_weights = restore_best_weights
        self.suspend_from_epoch = suspend_from_epoch
        self.reference: float | None = None
        self.wait = 0

    def _stop(self, trainer: Trainer, reason: str) -> None:
        trainer.should_stop, trainer.stop_reason = True, reason

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.monitor is None:
            raise ValueError("EarlyStopping needs a trainer with a monitor")

    def on_epoch_end(self, trainer: Trainer, log: EpochLog) -> None:
        monitor = trainer.monitor
        value = monitor.value(log)
        if not math.isfinite(value):
            self._restore_best(trainer)
            return self._stop(trainer, f"non-finite {monitor.name}")
        if self.divergence_threshold is not None and (
                value > self.divergence_threshold if monitor.mode == "min"
                else value < self.divergence_threshold):
            return self._stop(trainer, f"{monitor.name} {value:.4g} passed the divergence "
                                       f"threshold {self.divergence_threshold}")
        if monitor.better(value, self.reference, self.min_delta):
            self.reference, self.wait = value, 0
            return
        if self.suspend_from_epoch is not None and log.epoch >= self.suspend_from_epoch:
            return
        self.wait += 1
        if self.wait >= self.patience:
            self._stop(trainer, f"no improvement of {monitor.name} for {self.wait} epochs")

    def _restore_best(self, trainer: Trainer) -> bool:
        return self.best is not None and self.best.restore(trainer)

    def on_non_finite_loss(self, trainer: Trainer, epoch: int) -> bool:
        if not self._restore_best(trainer):
            return False
        self._stop(trainer, f"non-finite training loss in epoch {epoch}")
        return True

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.restore_best_weights:
            self._restore_best(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.reference, self.wait = state["reference"], state["wait"]


class LRScheduler(Callback):
    """Steps a ``torch.optim.lr_scheduler`` per epoch (``ReduceLROnPlateau`` with the trainer's
    monitored value) or per batch (one-cycle), until ``stop_before_epoch`` (when SWA's scheduler
    takes over)."""

    def __init__(self, scheduler: lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau,
                 interval: str = "epoch", stop_before_epoch: int | None = None) -> None:
        self.scheduler, self.interval = scheduler, interval
        self.stop_before_epoch = stop_before_epoch

    def on_fit_start(self, trainer: Trainer) -> None:
        if isinstance(self.scheduler, lr_scheduler.ReduceLROnPlateau) and trainer.monitor is None:
            raise ValueError("ReduceLROnPlateau needs a trainer with a monitor")

    def _active(self, epoch: int) -> bool:
        return self.stop_before_epoch is None or epoch < self.stop_before_epoch

    def on_train_batch_end(self, trainer: Trainer, loss: torch.Tensor) -> None:
        if self.interval == "batch" and self._active(trainer.epoch + 1):
            self.scheduler.step()

    def on_epoch_end(self, trainer: Trainer, log: EpochLog) -> None:
        if self.interval != "epoch" or not self._active(log.epoch):
            return
        if isinstance(self.scheduler, lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(trainer.monitor.value(log))
        else:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return {"scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state["scheduler"])


class StochasticWeightAveraging(Callback):
    """SWA with ``torch.optim.swa_utils``: from ``start_epoch`` on, the weights after every epoch
    are averaged and ``SWALR`` anneals the learning rate to ``swa_lr``. At the end, BatchNorm
    statistics of the averaged model are recomputed with ``update_bn`` over the training batches."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, start_epoch: int,
                 swa_lr: float, anneal_epochs: int, anneal_strategy: str,
                 bn_batches: Batches) -> None:
        self.start_epoch, self.bn_batches = start_epoch, bn_batches
        self.averaged = swa_utils.AveragedModel(model)
        self.scheduler = swa_utils.SWALR(optimizer, swa_lr=swa_lr, anneal_epochs=anneal_epochs,
                                         anneal_strategy=anneal_strategy)

    @property
    def n_averaged(self) -> int:
        return int(self.averaged.n_averaged.item())

    def on_epoch_end(self, trainer: Trainer, log: EpochLog) -> None:
        if log.epoch >= self.start_epoch:
            self.averaged.update_parameters(trainer.model)
            self.scheduler.step()

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.n_averaged > 0:
            swa_utils.update_bn(self.bn_batches, self.averaged)

    def model(self) -> nn.Module | None:
        """The averaged network (a plain model of the trained class), or None before SWA began."""
        return self.averaged.module if self.n_averaged > 0 else None

    def state_dict(self) -> dict[str, Any]:
        return {"averaged": self.averaged.state_dict(), "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.averaged.load_state_dict(state["averaged"])
        self.scheduler.load_state_dict(state["scheduler"])


class ModelCheckpoint(Callback):
    """Saves a fully resumable checkpoint (``Trainer.state_dict``) every ``every_n_epochs``, at the
    last epoch and when training stops, keeps the newest ``keep_last``, and with ``save_best``
    writes ``best.pt`` whenever the trainer's monitor has just recorded a new best epoch. Files are
    written atomically, so a killed run never leaves half a checkpoint."""

    def __init__(self, directory: Path, every_n_epochs: int, keep_last: int,
                 save_best: bool = False) -> None:
        self.directory, self.every_n_epochs, self.keep_last = directory, every_n_epochs, keep_last
        self.save_best = save_best

    def _save(self, trainer: Trainer, name: str) -> None:
        with atomic_output(self.directory / name) as partial:
            torch.save(trainer.state_dict(), partial)

    def on_epoch_end(self, trainer: Trainer, log: EpochLog) -> None:
        if self.save_best and trainer.improved:
            self._save(trainer, "best.pt")
        if log.epoch % self.every_n_epochs == 0 or log.epoch == trainer.max_epochs \
                or trainer.should_stop:
            self._save(trainer, f"epoch-{log.epoch:04d}.pt")
            for old in epoch_checkpoints(self.directory)[:-self.keep_last]:
                old.unlink()


def epoch_checkpoints(directory: Path) -> list[Path]:
    """A run's per-epoch checkpoints, oldest first (their names sort by epoch)."""
    return sorted(directory.glob("epoch-*.pt"))


def resumable_checkpoint(directory: Path, fingerprint: str) -> Path | None:
    """The newest checkpoint of an unfinished run with the same fingerprint (settings and data).

    Anything else in ``directory`` (a finished run, or one with other settings) is cleared, so a
    changed parameter can never resume from a stale checkpoint.
    """
    marker = directory / "run.json"
    if marker.is_file():
        run = json.loads(marker.read_text())
        files = epoch_checkpoints(directory)
        if run.get("fingerprint") == fingerprint and not run.get("finished") and files:
            return files[-1]
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    _write_record(marker, {"fingerprint": fingerprint, "finished": False})
    return None


def _write_record(marker: Path, run: dict) -> None:
    with atomic_output(marker) as partial:
        partial.write_text(json.dumps(run) + "\n")


def mark_finished(directory: Path) -> None:
    marker = directory / "run.json"
    _write_record(marker, {**json.loads(marker.read_text()), "finished": True})
