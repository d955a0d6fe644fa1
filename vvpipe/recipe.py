"""The fixed training recipe of tasks 1 and 3: the task's model, SGD and CrossEntropyLoss on the
engineered training set, validated after every epoch on the split held out from it.

The original scripts never seed, so every run of theirs starts from fresh random weights: the
initial weights are not part of the fixed setup. When a class dies (``class_health``), another
attempt starts from other initial weights on another order of the same images, up to
``order_attempts`` in all; a dead run is stopped as soon as the death is certain, and the
attempt that validates best is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn

from vvpipe.class_health import ClassHealth, ClassRescue
from vvpipe.data import ImageSet, TensorBatches, balanced_sample, batches
from vvpipe.hooks import Callback, EpochLog
from vvpipe.models import TASK_MODELS, place
from vvpipe.settings.train import FixedTaskSettings, TrainSettings
from vvpipe.training import Trainer, announce_plan
from vvpipe.runtime import seed_everything


# Images of each class in the training sample the rescue measures after every epoch.
RESCUE_SAMPLE_PER_CLASS = 200


@dataclass
class FitResult:
    attempts: list[dict]  # one record per attempt, in order
    chosen: int  # index into attempts
    weights: dict[str, torch.Tensor]
    history: list[EpochLog]
    plan: dict  # announce_plan's: the planned steps, the measured speed and time
    timings: list[dict]  # each attempt's wall times and speed, apart from its record


def fixed_optimizer(model: nn.Module, settings: TrainSettings) -> torch.optim.SGD:
    """The optimizer every task trains with: SGD at the task's lr and momentum."""
    return torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)


def fixed_setup(model_class: type[nn.Module], settings: TrainSettings,
                device: torch.device) -> tuple[nn.Module, torch.optim.SGD]:
    """A fresh ``model_class`` on ``device``, in the layout ``settings`` names, and its fixed
    optimizer."""
    model = place(model_class(), device, settings.channels_last)
    return model, fixed_optimizer(model, settings)


def training_speed(model: nn.Module, settings: TrainSettings, batches: Sequence[tuple],
                   warm_up: int) -> float:
    """Samples/s of the fixed setup's training steps over ``batches``, timed after the first
    ``warm_up`` (oneDNN builds its kernels in the first steps); trains ``model`` in place."""
    trainer = Trainer(model, fixed_optimizer(model, settings), nn.CrossEntropyLoss(),
                      progress=False)
    trainer.train_epoch(batches[:warm_up])
    started = time.perf_counter()
    trainer.train_epoch(batches[warm_up:])
    return sum(len(labels) for _, labels in batches[warm_up:]) / (time.perf_counter() - started)


def train_batches(train: ImageSet, settings: TrainSettings, device: torch.device) -> TensorBatches:
    """The training set's batches as the task's original training loader makes them."""
    return batches(train, settings.batch_size, settings.shuffle_train, settings.seed, device)


def held_out_batches(held_out: ImageSet, settings: TrainSettings,
                     device: torch.device) -> TensorBatches:
    """A validation split's or the test set's batches as the task's original test loader makes
    them: shuffled when it is, by a generator of its own (the task's seed + 1)."""
    return batches(held_out, settings.batch_size, settings.shuffle_test, settings.seed + 1, device)


def scoring_batches(images: ImageSet, settings: TrainSettings,
                    device: torch.device) -> TensorBatches:
    """Batches of ``images`` in their stored order, for scoring a model on a split: nothing is
    drawn, so no generator is involved."""
    return batches(images, settings.batch_size, False, 0, device)


def reordered(train: ImageSet, seed: int) -> ImageSet:
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    return ImageSet(train.images[order], train.labels[order], [train.files[i] for i in order])


def fit_fixed(task: str, settings: FixedTaskSettings, train: ImageSet, val: ImageSet,
              device: torch.device, progress: bool = True, stop_dead_runs: bool = True,
              watchers: Callable[[], list[Callback]] = list) -> FitResult:
    """Train the task's fixed setup, with further attempts while a class ends below
    ``settings.min_class_recall`` on validation; returns every attempt and the best one.
    ``stop_dead_runs`` False lets a run with a dead class go on to its last epoch (to watch
    whether the class ever comes back); ``watchers`` makes extra callbacks for each attempt."""
    attempts: list[dict] = []
    timings: list[dict] = []
    best: tuple[float, int, dict, list] | None = None
    plan: dict = {}
    val_batches = scoring_batches(val, settings, device)
    # The rescue watches the images the model trains on: the collapse is saturation on them.
    rescue_batches = scoring_batches(balanced_sample(train, RESCUE_SAMPLE_PER_CLASS, settings.seed),
                                     settings, device)
    for attempt in range(settings.order_attempts):
        started = time.perf_counter()
        seed = settings.seed + attempt
        ordered = train if attempt == 0 else reordered(train, seed)
        seed_everything(seed)
        model, optimizer = fixed_setup(TASK_MODELS[task], settings, device)
        loss = nn.CrossEntropyLoss()
        if attempt == 0:
            plan = announce_plan(model, loss, train.images, train.labels, settings, task,
                                 settings.order_attempts)
        health = ClassHealth(val_batches, grace=settings.epochs // 2,
                             patience=3 if stop_dead_runs else settings.epochs + 1)
        rescue = (ClassRescue(rescue_batches, settings.rescue_max_weight, seed)
                  if settings.rescue_max_weight > 1 else None)
        trainer = Trainer(model, optimizer, loss,
                          callbacks=[health, *([rescue] if rescue else []), *watchers()],
                          progress=progress)
        ordered_batches = batches(ordered, settings.batch_size, settings.shuffle_train, seed, device)
        history = trainer.fit(ordered_batches, val_batches, settings.epochs)
        recall = health.last_recall()
        record = {
            "attempt": attempt + 1, "init_seed": seed,
            "order": "as stored" if attempt == 0 else f"permuted with seed {seed}",
            "epochs_run": len(history), "stop_reason": trainer.stop_reason or "completed",
            "val_accuracy": history[-1].val_accuracy, "val_loss": history[-1].val_loss,
            "val_recall_per_class": recall, "min_val_recall": min(recall.values()),
            "dead_classes": health.dead_classes,
            "rescued_epochs": {str(h["epoch"]): [round(w, 2) for w in h["weights"]]
                               for h in (rescue.history if rescue else []) if h["weights"]},
            "class_health": health.history}
        attempts.append(record)
        timings.append({"attempt": attempt + 1,
                        "seconds": round(time.perf_counter() - started, 1), **trainer.timing()})
        print(f"{task} attempt {attempt + 1} (initial weights seed {seed}): "
              f"{len(history)} epochs, val accuracy {record['val_accuracy']:.4f}, lowest class "
              f"recall {record['min_val_recall']:.3f}"
              + (f"; stopped: {trainer.stop_reason}" if trainer.stop_reason else ""), flush=True)
        # A run stopped for a dead class never beats a completed one.
        score = (not health.dead_classes, record["val_accuracy"])
        if best is None or score > best[0]:
            best = (score, attempt, {k: v.detach().clone() for k, v in model.state_dict().items()},
                    history)
        if record["min_val_recall"] >= settings.min_class_recall and not health.dead_classes:
            break
    _, chosen, weights, history = best
    return FitResult(attempts, chosen, weights, history, plan, timings)


def original_run(task: str, settings: TrainSettings, train: ImageSet, test: ImageSet,
                 device: torch.device, epochs: int | None = None) -> nn.Module:
    """The original script's run, for the baselines the benchmarks report: seeded from
    ``settings``, one attempt in the default layout, with the original loaders, validated on the
    test set after every epoch as the original loop does (nothing is chosen from it). Returns
    the trained model."""
    seed_everything(settings.seed)
    model, optimizer = fixed_setup(TASK_MODELS[task], replace(settings, channels_last=False), device)
    Trainer(model, optimizer, nn.CrossEntropyLoss(), progress=False).fit(
        train_batches(train, settings, device), held_out_batches(test, settings, device),
        epochs or settings.epochs)
    return model
