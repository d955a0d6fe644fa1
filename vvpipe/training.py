"""The one training loop every task runs, plus seeding and device selection."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict

import numpy as np
import torch
from torch import nn

from vvpipe.errors import CheckpointError, NonFiniteLossError, ParamsError
from vvpipe.hooks import Batches, Callback, EpochLog, Monitor
from vvpipe.progress import progress_bar
from vvpipe.settings.train import TrainSettings


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def planned_steps(images: int, batch_size: int, epochs: int, max_steps: int, where: str) -> int:
    """The optimizer steps of one run; fails before any work when they pass the ceiling."""
    steps = math.ceil(images / batch_size) * epochs
    if steps > max_steps:
        raise ParamsError(f"{where}.max_steps is {max_steps:,} optimizer steps, but {images:,} "
                          f"images x {epochs} epochs at batch size {batch_size} take {steps:,}: "
                          "raise it, or shrink the set (engineer's min_steps)")
    return steps


def announce_plan(model: nn.Module, loss_fn: LossFn, images: torch.Tensor, labels: torch.Tensor,
                  settings: TrainSettings, section: str, runs: int = 1,
                  label: str | None = None) -> dict:
    """Print, before training, the steps a run takes and its time at the measured speed; fail
    naming ``section``'s ceiling when the steps pass it."""
    steps = planned_steps(len(labels), settings.batch_size, settings.epochs, settings.max_steps,
                          section)
    speed = measured_samples_per_second(model, torch.optim.SGD, loss_fn, images, labels,
                                        settings.batch_size)
    minutes = steps * settings.batch_size / speed / 60
    limit = f", up to {runs} runs" if runs > 1 else ""
    print(f"{label or section}: {steps:,} optimizer steps a run (ceiling {settings.max_steps:,}{limit}), "
          f"about {minutes:.1f} min a run at the {speed:,.0f} samples/s measured", flush=True)
    return {"planned_steps": steps, "measured_samples_per_second": round(speed, 1),
            "estimated_minutes_per_run": round(minutes, 2)}


def measured_samples_per_second(model: nn.Module, optimizer_class: type[torch.optim.Optimizer],
                                loss_fn: LossFn, images: torch.Tensor, labels: torch.Tensor,
                                batch_size: int, steps: int = 10) -> float:
    """Training speed of a throwaway copy of ``model`` on the first batches: every random
    source is restored afterwards, so the run itself is unchanged."""
    import copy

    probe = copy.deepcopy(model)
    optimizer = optimizer_class(probe.parameters(), lr=0.0)
    device = next(probe.parameters()).device
    x, y = images[:batch_size].to(device).float(), labels[:batch_size].to(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        probe.train()
        for step in range(steps + 1):
            if step == 1:  # the first step pays for allocations, not for work
                started = time.perf_counter()
            optimizer.zero_grad()
            loss_fn(probe(x), y).backward()
            optimizer.step()
    return steps * len(y) / max(time.perf_counter() - started, 1e-9)


def _generators(*batch_sources: Batches) -> list[torch.Generator]:
    return [g for b in batch_sources if (g := getattr(b, "generator", None)) is not None]


def rng_state(generators: Sequence[torch.Generator]) -> dict:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": [g.get_state() for g in generators],
    }


def set_rng_state(state: dict, generators: Sequence[torch.Generator]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if len(state["generators"]) != len(generators):
        raise CheckpointError("checkpoint was saved with a different set of data loaders")
    for generator, saved in zip(generators, state["generators"]):
        generator.set_state(saved)


class Trainer:
    """The original loop: per batch zero_grad, forward, loss, backward, step; validation after
    every epoch. Callbacks add behaviour (logging, checkpoints, ...) without touching the loop.

    ``state_dict`` holds everything needed to continue a run exactly where it was: model,
    optimizer, epoch, history, every callback's state and every random generator's state.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn,
                 callbacks: Sequence[Callback] = (), eval_loss_fn: LossFn | None = None,
                 progress: bool = True, monitor: Monitor | None = None) -> None:
        keys = [c.state_key for c in callbacks]
        if len(set(keys)) != len(keys):
            raise ValueError(f"two callbacks share a state key (give one a state_key), got {keys}")
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.eval_loss_fn = eval_loss_fn or loss_fn
        self.callbacks = list(callbacks)
        self.progress = progress
        self.epoch = 0  # epochs completed
        self.max_epochs = 0
        self.history: list[EpochLog] = []
        # The run's one notion of "best": updated before the callbacks see an epoch.
        self.monitor = monitor
        self.improved = False  # whether the epoch just finished is the monitor's new best
        self.should_stop = False
        self.stop_reason: str | None = None
        self._generators: list[torch.Generator] = []
        self.train_batches: Batches | None = None
        # Wall seconds this process spent in training passes and in validation passes.
        self.seconds = {"training": 0.0, "validation": 0.0}
        self.samples_trained = 0

    def timing(self) -> dict[str, float]:
        """Where this process's time went: training samples/s and validation's share."""
        training, validation = self.seconds["training"], self.seconds["validation"]
        return {"training_seconds": round(training, 1), "validation_seconds": round(validation, 1),
                "train_samples_per_second": round(self.samples_trained / training, 1)
                if training else None,
                "validation_share": round(validation / (training + validation), 4)
                if training + validation else None}

    def train_epoch(self, batches: Batches) -> float:
        self.model.train()
        losses = []
        for images, labels in batches:
            self.optimizer.zero_grad()
            loss = self.loss_fn(self.model(images), labels)
            loss.backward()
            self.samples_trained += len(labels)
            losses.append(loss.detach())
            self.optimizer.step()
            for callback in self.callbacks:
                callback.on_train_batch_end(self, loss.detach())
        # One device sync per epoch instead of one per batch.
        return torch.stack(losses).double().mean().item()

    @torch.no_grad()
    def validate(self, batches: Batches) -> tuple[float, float]:
        """Mean validation loss and accuracy over batches, as the original computes them."""
        self.model.eval()
        losses, accuracies = [], []
        for images, labels in batches:
            outputs = self.model(images)
            losses.append(self.eval_loss_fn(outputs, labels))
            accuracies.append((outputs.argmax(1) == labels).double().mean())
        return (torch.stack(losses).double().mean().item(),
                torch.stack(accuracies).mean().item())

    def _non_finite(self, epoch: int, train_loss: float) -> None:
        handled = [c.on_non_finite_loss(self, epoch) for c in self.callbacks]
        if not any(handled):
            raise NonFiniteLossError(f"training loss became {train_loss} in epoch {epoch}; "
                                     "lower the learning rate or the loss weights")

    def fit(self, train_batches: Batches, val_batches: Batches, epochs: int) -> list[EpochLog]:
        """Train until ``epochs`` epochs are complete (continuing a restored run) or a callback
        asks to stop."""
        self.max_epochs = epochs
        self.train_batches = train_batches  # a callback may redraw the passes (ClassRescue)
        self._generators = _generators(train_batches, val_batches)
        for callback in self.callbacks:
            callback.on_fit_start(self)
        bar = progress_bar(range(self.epoch + 1, epochs + 1), self.progress, desc="epochs",
                           unit="epoch", initial=self.epoch, total=epochs)
        for epoch in ([] if self.should_stop else bar):
            for callback in self.callbacks:
                callback.on_epoch_start(self, epoch)
            started = time.perf_counter()
            train_loss = self.train_epoch(train_batches)
            self.seconds["training"] += time.perf_counter() - started
            if not np.isfinite(train_loss):
                self._non_finite(epoch, train_loss)
                break
            started = time.perf_counter()
            val_loss, val_accuracy = self.validate(val_batches)
            self.seconds["validation"] += time.perf_counter() - started
            log = EpochLog(epoch, train_loss, self.optimizer.param_groups[0]["lr"], val_loss,
                           val_accuracy)
            self.epoch = epoch
            self.history.append(log)
            self.improved = self.monitor.update(log) if self.monitor is not None else False
            bar.set_postfix(loss=f"{train_loss:.4f}", val_loss=f"{val_loss:.4f}",
                            val_acc=f"{val_accuracy:.4f}")
            if self.progress:
                bar.write(f"epoch {epoch}: train loss {train_loss:.4f}, lr {log.lr:.6g}, "
                          f"val loss {val_loss:.4f}, val accuracy {val_accuracy:.4f}")
            for callback in self.callbacks:
                callback.on_epoch_end(self, log)
            if self.should_stop:
                break
        bar.close()
        for callback in self.callbacks:
            callback.on_fit_end(self)
        return self.history

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "history": [asdict(log) for log in self.history],
            "should_stop": self.should_stop,
            "stop_reason": self.stop_reason,
            "monitor": self.monitor.state_dict() if self.monitor is not None else None,
            "callbacks": {c.state_key: c.state_dict() for c in self.callbacks},
            "rng": rng_state(self._generators),
        }

    def load_state_dict(self, state: dict, train_batches: Batches, val_batches: Batches) -> None:
        """Restore a run saved by ``state_dict``; the batches are those ``fit`` will be given."""
        saved = {name: s for name, s in state["callbacks"].items() if s}
        stateful = {c.state_key for c in self.callbacks if c.state_dict()}
        if set(saved) != stateful:
            raise CheckpointError(f"checkpoint holds the state of callbacks {sorted(saved)}, "
                                  f"this run has {sorted(stateful)}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = state["epoch"]
        self.history = [EpochLog(**log) for log in state["history"]]
        self.should_stop, self.stop_reason = state["should_stop"], state["stop_reason"]
        if self.monitor is not None:
            self.monitor.load_state_dict(state["monitor"])
        for callback in self.callbacks:
            if callback.state_key in saved:
                callback.load_state_dict(saved[callback.state_key])
        set_rng_state(state["rng"], _generators(train_batches, val_batches))
