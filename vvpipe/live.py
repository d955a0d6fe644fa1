"""Per-epoch curves through DVCLive, as a trainer callback every training stage uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from vvpipe.hooks import Callback, EpochLog
from vvpipe.training import Trainer


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
        self._start(trainer.history)

    def _start(self, history: list[EpochLog]) -> None:
        from dvclive import Live

        self.live = Live(str(self.directory), dvcyaml=False, save_dvc_exp=False, report=None)
        for log in history:
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
        self._end()

    def _end(self) -> None:
        if self.live is not None:
            self.live.end()

    @classmethod
    def write(cls, directory: Path, history: list[EpochLog]) -> None:
        """Curves of a finished run, written afresh (for a run chosen among several)."""
        logger = cls(directory)
        logger._start(history)
        logger._end()
