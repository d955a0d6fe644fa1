"""params.yaml:task2: task 2's run, its monitor and the callbacks it switches on."""

from __future__ import annotations

from dataclasses import dataclass

from vvpipe.config import require, require_choice
from vvpipe.settings.train import MONITOR_MODES, MONITORED, TrainSettings


SCHEDULERS = ("none", "plateau", "cosine", "step", "onecycle")


# What the monitor watches: the validation split, or (the original script's behaviour, which
# makes every test figure of the run optimistic) the test set.
MONITOR_SPLITS = ("validation", "test")


ANNEAL_STRATEGIES = ("cos", "linear")


@dataclass(frozen=True)
class CheckpointSettings:
    enabled: bool = True
    every_n_epochs: int = 5
    keep_last: int = 2
    save_best: bool = True

    def validate(self, where: str) -> None:
        require(self.every_n_epochs >= 1, f"{where}.every_n_epochs", "must be at least 1")
        require(self.keep_last >= 1, f"{where}.keep_last", "must be at least 1")


@dataclass(frozen=True)
class EarlyStoppingSettings:
    enabled: bool = False
    patience: int = 5  # epochs without improvement that stop the run
    min_delta: float = 1e-4
    divergence_threshold: float | None = None
    restore_best_weights: bool = False

    def validate(self, where: str) -> None:
        require(self.patience >= 1, f"{where}.patience", f"must be at least 1, got {self.patience}")
        require(self.min_delta >= 0, f"{where}.min_delta", f"must be 0 or more, got {self.min_delta}")


@dataclass(frozen=True)
class PlateauSettings:
    factor: float = 0.5
    patience: int = 2
    threshold: float = 1e-4
    min_lr: float = 0.0

    def validate(self, where: str) -> None:
        require(0 < self.factor < 1, f"{where}.factor", f"must be in (0, 1), got {self.factor}")
        require(self.patience >= 0, f"{where}.patience", f"must be 0 or more, got {self.patience}")
        require(self.threshold >= 0, f"{where}.threshold", f"must be 0 or more, got {self.threshold}")
        require(self.min_lr >= 0, f"{where}.min_lr", f"must be 0 or more, got {self.min_lr}")


@dataclass(frozen=True)
class CosineSettings:
    t_max: int | None = None  # None: the number of epochs before SWA starts (or all epochs)
    eta_min: float = 0.0

    def validate(self, where: str) -> None:
        require(self.t_max is None or self.t_max >= 1, f"{where}.t_max", "must be at least 1 or null")
        require(self.eta_min >= 0, f"{where}.eta_min", f"must be 0 or more, got {self.eta_min}")


@dataclass(frozen=True)
class StepSettings:
    step_size: int = 10
    gamma: float = 0.5

    def validate(self, where: str) -> None:
        require(self.step_size >= 1, f"{where}.step_size", "must be at least 1")
        require(0 < self.gamma <= 1, f"{where}.gamma", f"must be in (0, 1], got {self.gamma}")


@dataclass(frozen=True)
class OneCycleSettings:
    max_lr: float = 0.04
    pct_start: float = 0.3
    anneal_strategy: str = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4

    def validate(self, where: str) -> None:
        require(self.max_lr > 0, f"{where}.max_lr", "must be positive")
        require(0 < self.pct_start < 1, f"{where}.pct_start", "must be in (0, 1)")
        require_choice(self.anneal_strategy, ANNEAL_STRATEGIES, f"{where}.anneal_strategy")
        require(self.div_factor > 0, f"{where}.div_factor", f"must be positive, got {self.div_factor}")
        require(self.final_div_factor > 0, f"{where}.final_div_factor",
                f"must be positive, got {self.final_div_factor}")


@dataclass(frozen=True)
class SchedulerSettings:
    name: str = "none"
    plateau: PlateauSettings = PlateauSettings()
    cosine: CosineSettings = CosineSettings()
    step: StepSettings = StepSettings()
    onecycle: OneCycleSettings = OneCycleSettings()

    def validate(self, where: str) -> None:
        require_choice(self.name, SCHEDULERS, f"{where}.name")


@dataclass(frozen=True)
class SWASettings:
    enabled: bool = True
    start: int | float = 0.75  # an epoch number (int) or a fraction of the epochs (float < 1)
    lr: float = 0.01
    anneal_epochs: int = 5
    anneal_strategy: str = "cos"

    def validate(self, where: str) -> None:
        if isinstance(self.start, float):
            require(0 < self.start < 1, f"{where}.start",
                    f"as a fraction must be in (0, 1), got {self.start}; use an int for an epoch")
        else:
            require(self.start >= 1, f"{where}.start", f"must be an epoch >= 1, got {self.start}")
        require(self.lr > 0, f"{where}.lr", "must be positive")
        require(self.anneal_epochs >= 1, f"{where}.anneal_epochs", "must be at least 1")
        require_choice(self.anneal_strategy, ANNEAL_STRATEGIES, f"{where}.anneal_strategy")

    def start_epoch(self, epochs: int) -> int:
        """The first epoch whose weights are averaged (1-based)."""
        return max(1, round(self.start * epochs)) if isinstance(self.start, float) else self.start


@dataclass(frozen=True)
class Task2Settings(TrainSettings):
    """Task 2: ModelTask1 on task 1's data with its own optimizer settings and switchable
    callbacks. The defaults here are params.yaml's, which the ablation chose (README)."""

    monitor_split: str = "validation"
    monitor: str = "val_loss"
    mode: str = "min"
    checkpoint: CheckpointSettings = CheckpointSettings()
    early_stopping: EarlyStoppingSettings = EarlyStoppingSettings()
    lr_scheduler: SchedulerSettings = SchedulerSettings()
    swa: SWASettings = SWASettings()

    def validate(self, where: str) -> None:
        super().validate(where)
        require_choice(self.monitor_split, MONITOR_SPLITS, f"{where}.monitor_split")
        require_choice(self.monitor, MONITORED, f"{where}.monitor")
        require_choice(self.mode, ("min", "max"), f"{where}.mode")
        # The best model, checkpoints, early stopping and the plateau scheduler all follow the
        # mode: a mismatch would make every one of them pick the worst epoch.
        expected = MONITOR_MODES[self.monitor]
        require(self.mode == expected, f"{where}.mode",
                f"must be {expected!r} for monitor {self.monitor!r} "
                f"({'higher' if expected == 'max' else 'lower'} is better), got {self.mode!r}")
        if self.swa.enabled:
            start = self.swa.start_epoch(self.epochs)
            require(start <= self.epochs, f"{where}.swa.start",
                    f"is epoch {start}, beyond the last epoch {self.epochs}")
