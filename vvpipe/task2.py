"""Task 2's wiring: the callbacks a run gets from its settings (params.yaml:task2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim import lr_scheduler

from vvpipe.callbacks import (BestWeights, EarlyStopping, LRScheduler, ModelCheckpoint,
                              StochasticWeightAveraging)
from vvpipe.hooks import Batches, Callback, EpochLog, Monitor
from vvpipe.live import DVCLiveLogger
from vvpipe.settings.task2 import SchedulerSettings, Task2Settings
from vvpipe.training import Trainer


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


class TestMonitorLogger(DVCLiveLogger):
    """The curves of a run monitored on the test set (``monitor_split: test``): what the
    trainer calls ``val_*`` is then a test figure, and is logged as ``test_*``."""

    def _log(self, log: EpochLog, extra: dict[str, float] | None = None) -> None:
        assert self.live is not None, "on_fit_start was not called"
        self.live.step = log.epoch
        for name, value in {**asdict(log), **(extra or {})}.items():
            if name != "epoch":
                self.live.log_metric(name.replace("val_", "test_", 1), value)
        self.live.next_step()


@dataclass
class Task2Callbacks:
    """The callbacks of a task 2 run, in the order the trainer must call them."""

    best: BestWeights
    early_stopping: EarlyStopping | None
    scheduler: LRScheduler | None
    swa: StochasticWeightAveraging | None
    logger: DVCLiveLogger | None
    checkpoint: ModelCheckpoint | None

    def ordered(self, extra: Sequence[Callback] = ()) -> list[Callback]:
        return [c for c in (self.best, self.early_stopping, self.scheduler, self.swa, self.logger,
                            self.checkpoint, *extra) if c is not None]


def task2_trainer(settings: Task2Settings, model: nn.Module, optimizer: torch.optim.Optimizer,
                  train_batches: Batches, checkpoint_dir: Path | None, live_dir: Path | None,
                  extra: Sequence[Callback] = (), progress: bool = True
                  ) -> tuple[Trainer, Task2Callbacks]:
    """A trainer for task 2 with the one monitor params.yaml:task2 names and the callbacks it
    switches on, in the order they must run (``extra`` ones last)."""
    swa_start = settings.swa.start_epoch(settings.epochs) if settings.swa.enabled else None
    stopping = settings.early_stopping
    best = BestWeights()
    early_stopping = EarlyStopping(
        stopping.patience, stopping.min_delta, stopping.divergence_threshold,
        stopping.restore_best_weights, suspend_from_epoch=swa_start, best=best,
    ) if stopping.enabled else None
    made = make_scheduler(settings.lr_scheduler, optimizer, settings.mode,
                          (swa_start - 1 if swa_start else settings.epochs) or 1,
                          len(train_batches))
    scheduler = LRScheduler(made[0], made[1], stop_before_epoch=swa_start) if made else None
    swa = StochasticWeightAveraging(
        model, optimizer, swa_start, settings.swa.lr, settings.swa.anneal_epochs,
        settings.swa.anneal_strategy, train_batches) if swa_start else None
    checkpoint = settings.checkpoint
    callbacks = Task2Callbacks(
        best, early_stopping, scheduler, swa,
        (TestMonitorLogger if settings.monitor_split == "test" else DVCLiveLogger)(live_dir)
        if live_dir else None,
        ModelCheckpoint(checkpoint_dir, checkpoint.every_n_epochs, checkpoint.keep_last,
                        checkpoint.save_best) if checkpoint.enabled and checkpoint_dir else None,
    )
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), callbacks.ordered(extra),
                      progress=progress, monitor=Monitor(settings.monitor, settings.mode))
    return trainer, callbacks
