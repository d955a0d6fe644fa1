"""Training callbacks: small objects with clear hooks and a ``state_dict`` for resuming.

The trainer calls the hooks of its callbacks in list order; a checkpoint callback goes last so it
saves the state every other callback has just updated.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.optim import lr_scheduler, swa_utils

from vvpipe.config import SchedulerSettings, Task2Settings
from vvpipe.files import atomic_output

if TYPE_CHECKING:
    from vvpipe.training import Batches, EpochLog, Trainer


class Callback:
    """Hooks the trainer calls; each does nothing unless overridden."""

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


class Monitor:
    """Which epoch is better by one logged value: shared by best weights, checkpoints and early
    stopping so that "best" means one thing."""

    def __init__(self, name: str, mode: str = "min", min_delta: float = 0.0) -> None:
        self.name, self.mode, self.min_delta = name, mode, min_delta
        self.best: float | None = None
        self.best_epoch: int | None = None

    def value(self, log: EpochLog) -> float:
        return getattr(log, self.name)

    def improves(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        return (value < self.best - self.min_delta if self.mode == "min"
                else value > self.best + self.min_delta)

    def update(self, log: EpochLog) -> bool:
        value = self.value(log)
        if self.improves(value):
            self.best, self.best_epoch = value, log.epoch
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]


def _cpu_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class BestWeights(Callback):
    """Keeps a copy of the weights of the best epoch so far (the "best model")."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.weights: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, trainer: Trainer, log: EpochLog) -> None:
        if self.monitor.update(log):
            self.weights = _cpu_copy(trainer.model)

    def restore(self, model: nn.Module) -> bool:
        if self.weights is None:
            return False
        model.load_state_dict(self.weights)
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor.state_dict(), "weights": self.weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.monitor.load_state_dict(state["monitor"])
        self.weights = state["weights"]


class EarlyStopping(Callback):
    """Stops when the monitored value has not improved by ``min_delta`` for ``patience`` epochs,
    when it passes ``divergence_threshold``, or when it or the training loss is not finite.

    From ``suspend_from_epoch`` on (the SWA phase) only the safety stops apply: SWA explores at a
    constant learning rate on purpose, and the running weights' plateau says nothing about the
    averaged model. On a non-finite loss the best weights are put back, since the current ones are
    unusable; ``restore_best_weights`` also puts them back at the end of every run.
    """

    def __init__(self, monitor: Monitor, best: BestWeights, patience: int,
                 divergence_threshold: float | None = None, restore_best_weights: bool = False,
                 suspend_from_epoch: int | None = None) -> None:
        self.monitor, self.best = monitor, best
        self.patience, self.divergence_threshold = patience, divergence_threshold
        self.restore_best_weights = restore_best_weights
        self.suspend_from_epoch = suspend_from_epoch
        self.wait = 0

    def _stop(self, trainer: Trainer, reason: str) -> None:
        trainer.should_stop, trainer.stop_reason = True, reason

    def on_epoch_end(self, trainer: Trainer, log: EpochLog) -> None:
        value = self.monitor.value(log)
        if not math.isfinite(value):
            self.best.restore(trainer.model)
            return self._stop(trainer, f"non-finite {self.monitor.name}")
        if self.divergence_threshold is not None and (
                value > self.divergence_threshold if self.monitor.mode == "min"
                else value < self.divergence_threshold):
            return self._stop(trainer, f"{self.monitor.name} {value:.4g} passed the divergence "
                                       f"threshold {self.divergence_threshold}")
        if self.monitor.update(log):
            self.wait = 0
            return
        if self.suspend_from_epoch is not None and log.epoch >= self.suspend_from_epoch:
            return
        self.wait += 1
        if self.wait > self.patience:
            self._stop(trainer, f"no improvement of {self.monitor.name} for {self.wait} epochs")

    def on_non_finite_loss(self, trainer: Trainer, epoch: int) -> bool:
        if not self.best.restore(trainer.model):
            return False
        self._stop(trainer, f"non-finite training loss in epoch {epoch}")
        return True

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.restore_best_weights:
            self.best.restore(trainer.model)

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor.state_dict(), "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.monitor.load_state_dict(state["monitor"])
        self.wait = state["wait"]


class LRScheduler(Callback):
    """Steps a ``torch.optim.lr_scheduler`` per epoch (``ReduceLROnPlateau`` with the monitored
    value) or per batch (one-cycle), until ``stop_before_epoch`` (when SWA's scheduler takes over)."""

    def __init__(self, scheduler: lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau,
                 interval: str = "epoch", monitor: Monitor | None = None,
                 stop_before_epoch: int | None = None) -> None:
        self.scheduler, self.interval, self.monitor = scheduler, interval, monitor
        self.stop_before_epoch = stop_before_epoch

    def _active(self, epoch: int) -> bool:
        return self.stop_before_epoch is None or epoch < self.stop_before_epoch

    def on_train_batch_end(self, trainer: Trainer, loss: torch.Tensor) -> None:
        if self.interval == "batch" and self._active(trainer.epoch + 1):
            self.scheduler.step()

    def on_epoch_end(self, trainer: Trainer, log: EpochLog) -> None:
        if self.interval != "epoch" or not self._active(log.epoch):
            return
        if isinstance(self.scheduler, lr_scheduler.ReduceLROnPlateau):
            assert self.monitor is not None, "ReduceLROnPlateau needs a monitored value"
            self.scheduler.step(self.monitor.value(log))
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
        self.bn_updated = False

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
            self.bn_updated = True

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
    last epoch and when training stops, keeps the newest ``keep_last``, and writes ``best.pt``
    whenever ``best`` has just recorded a new best epoch. Files are written atomically, so a killed
    run never leaves half a checkpoint."""

    def __init__(self, directory: Path, every_n_epochs: int, keep_last: int,
                 best: BestWeights | None = None) -> None:
        self.directory, self.every_n_epochs, self.keep_last = directory, every_n_epochs, keep_last
        self.best = best

    def _save(self, trainer: Trainer, name: str) -> None:
        with atomic_output(self.directory / name) as partial:
            torch.save(trainer.state_dict(), partial)

    def on_epoch_end(self, trainer: Trainer, log: EpochLog) -> None:
        if self.best is not None and self.best.monitor.best_epoch == log.epoch:
            self._save(trainer, "best.pt")
        if log.epoch % self.every_n_epochs == 0 or log.epoch == trainer.max_epochs \
                or trainer.should_stop:
            self._save(trainer, f"epoch-{log.epoch:04d}.pt")
            for old in epoch_checkpoints(self.directory)[:-self.keep_last]:
                old.unlink()


class DVCLiveLogger(Callback):
    """Per-epoch curves (train/val loss, val accuracy, learning rate, and whatever
    ``epoch_metrics`` returns after each epoch) through DVCLive.

    ``dvcyaml=False`` because ``dvc.yaml`` declares the plots itself, and ``save_dvc_exp=False``
    because the run is a pipeline stage, not an experiment of its own. A resumed run starts a
    fresh log and replays the epochs it restored, so the curves have each epoch exactly once.
    """

    def __init__(self, directory: Path,
                 epoch_metrics: Callable[[Trainer], dict[str, float]] | None = None) -> None:
        self.directory = directory
        self.epoch_metrics = epoch_metrics
        self.live = None

    def on_fit_start(self, trainer: Trainer) -> None:
        from dvclive import Live

        self.live = Live(str(self.directory), dvcyaml=False, save_dvc_exp=False, report=None)
        for log in trainer.history:
            self._log(log)

    def _log(self, log: EpochLog, extra: dict[str, float] | None = None) -> None:
        assert self.live is not None, "on_fit_start was not called"
        self.live.step = log.epoch
        for name, value in asdict(log).items():
            if name != "epoch":
                self.live.log_metric(name, value)
        for name, value in (extra or {}).items():
            self.live.log_metric(name, value)
        self.live.next_step()

    def on_epoch_end(self, trainer: Trainer, log: EpochLog) -> None:
        self._log(log, self.epoch_metrics(trainer) if self.epoch_metrics else None)

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.live is not None:
            self.live.end()

    @classmethod
    def write(cls, directory: Path, history: list[EpochLog]) -> None:
        """Curves of a finished run, written afresh (for a run chosen among several)."""
        logger = cls(directory)
        run = type("FinishedRun", (), {"history": history})()
        logger.on_fit_start(run)
        logger.on_fit_end(run)



def make_scheduler(settings: SchedulerSettings, optimizer: torch.optim.Optimizer, mode: str,
                   epochs: int, steps_per_epoch: int) -> tuple[Any, str] | None:
    """The configured torch scheduler and its interval ("epoch" or "batch"), or None.
    ``epochs`` is how many epochs it runs for (those before SWA takes over)."""
    if settings.name == "none":
        return None
    if settings.name == "plateau":
        p = settings.plateau
        return lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=p.factor,
                                              patience=p.patience, threshold=p.threshold,
                                              min_lr=p.min_lr), "epoch"
    if settings.name == "cosine":
        c = settings.cosine
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=c.t_max or epochs,
                                              eta_min=c.eta_min), "epoch"
    if settings.name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=settings.step.step_size,
                                   gamma=settings.step.gamma), "epoch"
    o = settings.onecycle
    return lr_scheduler.OneCycleLR(optimizer, max_lr=o.max_lr, epochs=epochs,
                                   steps_per_epoch=steps_per_epoch, pct_start=o.pct_start,
                                   anneal_strategy=o.anneal_strategy, div_factor=o.div_factor,
                                   final_div_factor=o.final_div_factor), "batch"


@dataclass
class Task2Callbacks:
    """The callbacks of a task 2 run, in the order the trainer must call them."""

    best: BestWeights
    early_stopping: EarlyStopping | None
    scheduler: LRScheduler | None
    swa: StochasticWeightAveraging | None
    logger: DVCLiveLogger | None
    checkpoint: ModelCheckpoint | None

    def ordered(self) -> list[Callback]:
        return [c for c in (self.best, self.early_stopping, self.scheduler, self.swa, self.logger,
                            self.checkpoint) if c is not None]


def task2_callbacks(settings: Task2Settings, model: nn.Module, optimizer: torch.optim.Optimizer,
                    train_batches: Batches, steps_per_epoch: int, checkpoint_dir: Path | None,
                    live_dir: Path | None) -> Task2Callbacks:
    swa_start = settings.swa.start_epoch(settings.epochs) if settings.swa.enabled else None
    best = BestWeights(Monitor(settings.monitor, settings.mode))
    stopping = settings.early_stopping
    early_stopping = EarlyStopping(
        Monitor(settings.monitor, settings.mode, stopping.min_delta), best, stopping.patience,
        stopping.divergence_threshold, stopping.restore_best_weights, suspend_from_epoch=swa_start,
    ) if stopping.enabled else None
    made = make_scheduler(settings.lr_scheduler, optimizer, settings.mode,
                          (swa_start - 1 if swa_start else settings.epochs) or 1, steps_per_epoch)
    scheduler = LRScheduler(made[0], made[1], Monitor(settings.monitor, settings.mode),
                            stop_before_epoch=swa_start) if made else None
    swa = StochasticWeightAveraging(
        model, optimizer, swa_start, settings.swa.lr, settings.swa.anneal_epochs,
        settings.swa.anneal_strategy, train_batches) if swa_start else None
    checkpoint = settings.checkpoint
    return Task2Callbacks(
        best, early_stopping, scheduler, swa,
        DVCLiveLogger(live_dir) if live_dir else None,
        ModelCheckpoint(checkpoint_dir, checkpoint.every_n_epochs, checkpoint.keep_last,
                        best if checkpoint.save_best else None)
        if checkpoint.enabled and checkpoint_dir else None,
    )


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
    marker.write_text(json.dumps({"fingerprint": fingerprint, "finished": False}) + "\n")
    return None


def mark_finished(directory: Path) -> None:
    marker = directory / "run.json"
    run = json.loads(marker.read_text())
    marker.write_text(json.dumps({**run, "finished": True}) + "\n")
