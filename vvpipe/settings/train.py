"""params.yaml:task1 … task4: the original training setup every task shares."""

from __future__ import annotations

from dataclasses import dataclass

from vvpipe.config import require, require_device

# What a run's monitor can watch: the values the trainer logs after every epoch (its EpochLog).
MONITORED = ("train_loss", "val_loss", "val_accuracy")
# Which way is better for each: losses fall, accuracies rise.
MONITOR_MODES = {name: "max" if name.endswith("accuracy") else "min" for name in MONITORED}

@dataclass(frozen=True)
class TrainSettings:
    """The original training setup of one task: optimizer, loaders and the run's seed and device."""

    epochs: int
    lr: float
    momentum: float
    batch_size: int = 256
    shuffle_train: bool = False
    shuffle_test: bool = True
    seed: int = 0
    device: str = "auto"
    # The convolutions' weights in channels-last layout: the same model and arithmetic up to
    # float rounding, 1.4-1.6x more samples/s on CPU (benchmarks/training_speed.py); false keeps
    # the default layout, bit-identical to the original loop.
    channels_last: bool = True
    # The hard ceiling on optimizer steps in one run: engineer never grows a set past it, and a
    # run that would take more fails before it starts.
    max_steps: int = 16000

    def validate(self, where: str) -> None:
        require(self.epochs >= 1, f"{where}.epochs", f"must be at least 1, got {self.epochs}")
        require(self.max_steps >= 1, f"{where}.max_steps", f"must be at least 1, got {self.max_steps}")
        require(self.lr > 0, f"{where}.lr", f"must be positive, got {self.lr}")
        require(0 <= self.momentum < 1, f"{where}.momentum", f"must be in [0, 1), got {self.momentum}")
        require(self.batch_size >= 1, f"{where}.batch_size", f"must be at least 1, got {self.batch_size}")
        require_device(self.device, f"{where}.device")


@dataclass(frozen=True)
class FixedTaskSettings(TrainSettings):
    """Tasks 1 and 3: the fixed setup, trained by the recipe (``vvpipe.recipe.fit_fixed``).

    The initial weights and the order of the training set are ours to choose: when a class dies
    or its validation recall ends below ``min_class_recall``, the recipe trains again from other
    initial weights on another order, up to ``order_attempts`` runs in all, and keeps the best
    on validation."""

    order_attempts: int = 5
    min_class_recall: float = 0.5
    # A class falling behind gets up to this many times its share of the next pass
    # (``vvpipe.class_health.ClassRescue``); 1 leaves every pass as the original draws it.
    rescue_max_weight: float = 4.0

    def validate(self, where: str) -> None:
        super().validate(where)
        require(self.order_attempts >= 1, f"{where}.order_attempts",
                f"must be at least 1, got {self.order_attempts}")
        require(0 <= self.min_class_recall <= 1, f"{where}.min_class_recall",
                f"must be in [0, 1], got {self.min_class_recall}")
        require(self.rescue_max_weight >= 1, f"{where}.rescue_max_weight",
                f"must be at least 1 (1 turns the rescue off), got {self.rescue_max_weight}")


@dataclass(frozen=True)
class Task3Settings(FixedTaskSettings):
    """Task 3's: its ceiling leaves room for the 32,000 steps its size rule asks for
    (``engineer.task3.min_steps``)."""

    max_steps: int = 32000


# Which settings class reads params.yaml:<task> for the tasks the recipe trains.
FIXED_TASK_SETTINGS = {"task1": FixedTaskSettings, "task3": Task3Settings}
