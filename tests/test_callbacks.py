"""Task 2's callbacks: schedulers, early stopping, SWA, their interplay, and exact resuming."""

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from vvpipe.callbacks import BestWeights, EarlyStopping, mark_finished, resumable_checkpoint
from vvpipe.config import parse
from vvpipe.errors import NonFiniteLossError, ParamsError
from vvpipe.hooks import Callback, EpochLog, Monitor
from vvpipe.models import ModelTask1
from vvpipe.recipe import fixed_setup, held_out_batches, train_batches
from vvpipe.task2 import task2_trainer
from vvpipe.settings.task2 import Task2Settings
from vvpipe.training import Trainer
from vvpipe.runtime import seed_everything

BASE = {"epochs": 8, "lr": 0.001, "momentum": 0.9, "shuffle_train": True, "device": "cpu"}


def settings(**overrides) -> Task2Settings:
    values = {**BASE, "checkpoint": {"enabled": False}, "early_stopping": {"enabled": False},
              "lr_scheduler": {"name": "none"}, "swa": {"enabled": False}}
    for key, value in overrides.items():
        values[key] = {**values.get(key, {}), **value} if isinstance(value, dict) else value
    return parse(Task2Settings, values, "task2")


def build(config: Task2Settings, digits, checkpoints=None, extra=()):
    seed_everything(config.seed)
    model, optimizer = fixed_setup(ModelTask1, replace(config, channels_last=False),
                                   torch.device("cpu"))
    train = train_batches(digits, config, torch.device("cpu"))
    test = held_out_batches(digits, config, torch.device("cpu"))
    trainer, callbacks = task2_trainer(config, model, optimizer, train, checkpoints, None, extra,
                                       progress=False)
    return trainer, callbacks, train, test


def lrs(trainer):
    return [round(log.lr, 10) for log in trainer.history]


def test_plain_run_has_no_callback_effects(digits):
    trainer, callbacks, train, test = build(settings(), digits)
    trainer.fit(train, test, 3)
    assert lrs(trainer) == [0.001] * 3 and not trainer.should_stop
    assert callbacks.swa is None and trainer.monitor.best_epoch is not None
    assert callbacks.best.weights is not None


@pytest.mark.parametrize("scheduler, expected", [
    ({"name": "step", "step": {"step_size": 2, "gamma": 0.5}},
     [0.001, 0.001, 0.0005, 0.0005]),
    ({"name": "cosine", "cosine": {"t_max": 4, "eta_min": 0.0}},
     [0.001 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]),
])
def test_epoch_schedulers_follow_their_formula(digits, scheduler, expected):
    # The logged rate is the one each epoch trained with; the scheduler steps after the epoch.
    trainer, _, train, test = build(settings(lr_scheduler=scheduler), digits)
    trainer.fit(train, test, 4)
    assert lrs(trainer) == pytest.approx(expected, abs=1e-9)


def test_plateau_halves_the_lr_when_the_monitored_value_stalls(digits):
    # Monitoring val_accuracy in min mode on random data: it "stalls" at once.
    config = settings(monitor="val_accuracy", mode="max",
                      lr_scheduler={"name": "plateau", "plateau": {"factor": 0.5, "patience": 0}})
    trainer, _, train, test = build(config, digits)
    trainer.fit(train, test, 6)
    values = [log.val_accuracy for log in trainer.history]
    reductions = sum(b < a for a, b in zip(lrs(trainer), lrs(trainer)[1:]))
    # A stall in epochs 2..5 lowers the rate of the next logged epoch (epoch 6's is not seen).
    expected = sum(1 for i in range(1, 5) if values[i] <= max(values[:i]) * (1 + 1e-4))
    assert reductions == expected >= 1


def test_onecycle_steps_per_batch_up_then_down(digits):
    config = settings(lr_scheduler={"name": "onecycle", "onecycle": {"max_lr": 0.01}})
    trainer, _, train, test = build(config, digits)
    trainer.fit(train, test, 8)
    rates = lrs(trainer)
    peak = rates.index(max(rates))
    assert 0 < peak < 7 and max(rates) <= 0.01
    assert rates[-1] < 0.01 / 25  # ends below the starting rate max_lr / div_factor


def logs(values):
    return [EpochLog(i + 1, 1.0, 0.1, v, 0.5) for i, v in enumerate(values)]


class FakeTrainer:
    """What EarlyStopping reads and writes: the trainer's monitor, model and stop flags."""

    def __init__(self):
        self.model = nn.Linear(2, 2)
        self.monitor = Monitor("val_loss", "min")
        self.improved = False
        self.should_stop, self.stop_reason = False, None


def drive(stopper, values, trainer=None):
    trainer = trainer or FakeTrainer()
    stopper.on_fit_start(trainer)
    best = stopper.best
    for log in logs(values):
        trainer.improved = trainer.monitor.update(log)
        if best is not None:
            best.on_epoch_end(trainer, log)
        stopper.on_epoch_end(trainer, log)
        if trainer.should_stop:
            return log.epoch, trainer.stop_reason
    return None, None


def stopper(patience=2, min_delta=0.0, divergence=None, suspend=None):
    return EarlyStopping(patience, min_delta, divergence, suspend_from_epoch=suspend)


def test_early_stopping_fires_when_the_wait_reaches_the_patience():
    # Lightning and Keras: patience 2 stops after the second epoch without improvement.
    assert drive(stopper(patience=2), [1.0, 0.9, 0.95, 0.93, 0.92]) == (
        4, "no improvement of val_loss for 2 epochs")
    # 0.85 improves on 0.9 by more than min_delta 0.01 and resets the count; 0.849 does not.
    assert drive(stopper(patience=1, min_delta=0.01), [1.0, 0.9, 0.85, 0.849, 0.845])[0] == 4
    assert drive(stopper(patience=3), [1.0, 0.9, 0.8, 0.7]) == (None, None)


def test_a_monitor_of_a_value_the_trainer_does_not_log_is_refused():
    with pytest.raises(ParamsError, match="'val_f1' is not a value the trainer logs"):
        Monitor("val_f1")
    with pytest.raises(ParamsError, match="task2.monitor must be one of"):
        settings(monitor="val_f1")


def test_early_stopping_safety_stops():
    epoch, reason = drive(stopper(patience=9, divergence=2.0), [1.0, 1.5, 2.5])
    assert epoch == 3 and "divergence threshold 2.0" in reason
    epoch, reason = drive(stopper(patience=9), [1.0, float("nan")])
    assert epoch == 2 and reason == "non-finite val_loss"


def test_restoring_the_best_weights_needs_the_callback_that_keeps_them():
    with pytest.raises(ValueError, match="restore_best_weights needs the BestWeights callback"):
        EarlyStopping(2, restore_best_weights=True)
    best, trainer = BestWeights(), FakeTrainer()
    stopper = EarlyStopping(9, restore_best_weights=True, best=best)
    with torch.no_grad():
        trainer.model.weight.fill_(1.0)
    drive(stopper, [1.0], trainer)  # epoch 1 is the best: its weights are kept
    with torch.no_grad():
        trainer.model.weight.fill_(5.0)
    assert drive(stopper, [float("nan")], trainer)[1] == "non-finite val_loss"
    assert torch.all(trainer.model.weight == 1.0)  # put back from the BestWeights callback
    # Without it a non-finite loss cannot be survived: the trainer raises instead.
    assert EarlyStopping(9).on_non_finite_loss(FakeTrainer(), 3) is False


def test_two_callbacks_of_one_kind_coexist_under_two_state_keys(digits):
    trainer, callbacks, train, test = build(settings(), digits)
    with pytest.raises(ValueError, match="share a state key"):
        Trainer(trainer.model, trainer.optimizer, nn.CrossEntropyLoss(),
                [BestWeights(), BestWeights()], monitor=trainer.monitor)
    pair = [BestWeights(), BestWeights(state_key="BestWeights-second")]
    both = Trainer(trainer.model, trainer.optimizer, nn.CrossEntropyLoss(), pair,
                   monitor=trainer.monitor)
    assert set(both.state_dict()["callbacks"]) == {"BestWeights", "BestWeights-second"}


def test_plateau_stopping_is_suspended_in_the_swa_phase_but_safety_stops_are_not():
    assert drive(stopper(patience=2, suspend=3), [1.0, 1.1, 1.2, 1.3, 1.4]) == (None, None)
    assert drive(stopper(patience=1, suspend=3), [1.0, 1.1])[0] == 2  # before SWA: stops
    assert drive(stopper(patience=1, suspend=3, divergence=2.0), [1.0, 0.9, 1.0, 3.0])[0] == 4


def test_a_stop_before_swa_starts_leaves_no_swa_model(digits):
    config = settings(monitor="val_accuracy", mode="max", early_stopping={"enabled": True,
                      "patience": 1, "min_delta": 1.0}, swa={"enabled": True, "start": 6})
    trainer, callbacks, train, test = build(config, digits)
    trainer.fit(train, test, 8)
    assert trainer.epoch == 2 and "no improvement" in trainer.stop_reason
    assert callbacks.swa.n_averaged == 0 and callbacks.swa.model() is None


def test_swa_averages_from_its_start_and_recomputes_batchnorm(digits):
    snapshots = []

    class Snapshot(Callback):
        def on_epoch_end(self, trainer, log):
            snapshots.append({k: v.clone() for k, v in trainer.model.state_dict().items()})

    config = settings(swa={"enabled": True, "start": 5, "lr": 0.0005, "anneal_epochs": 2})
    trainer, callbacks, train, test = build(config, digits, extra=[Snapshot()])
    trainer.fit(train, test, 8)
    assert callbacks.swa.n_averaged == 4
    averaged = callbacks.swa.model().state_dict()
    weight = "layers.dense_0.weight"
    expected = torch.stack([s[weight] for s in snapshots[4:]]).mean(0)
    assert torch.allclose(averaged[weight], expected, atol=1e-6)
    # update_bn replaced the copied running statistics with ones of the averaged weights.
    assert not torch.equal(averaged["layers.batchnorm_0.running_mean"],
                           snapshots[-1]["layers.batchnorm_0.running_mean"])
    assert lrs(trainer)[-1] == pytest.approx(0.0005)  # annealed to the SWA learning rate


def test_non_finite_loss_stops_cleanly_with_early_stopping_and_raises_without(digits):
    class Explode(Callback):
        def on_epoch_end(self, trainer, log):
            if log.epoch == 2:
                for group in trainer.optimizer.param_groups:
                    group["lr"] = 1e30

    config = settings(early_stopping={"enabled": True, "patience": 10})
    trainer, callbacks, train, test = build(config, digits, extra=[Explode()])
    trainer.fit(train, test, 6)
    assert trainer.should_stop and "non-finite training loss" in trainer.stop_reason
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())

    trainer, _, train, test = build(settings(), digits, extra=[Explode()])
    with pytest.raises(NonFiniteLossError):
        trainer.fit(train, test, 6)


class Crash(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, trainer, log):
        if log.epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("scheduler", ["plateau", "onecycle"])
@pytest.mark.parametrize("crash_at", [4, 6])  # before and inside the SWA phase
def test_a_resumed_run_ends_with_the_same_weights(tmp_path, digits, scheduler, crash_at):
    config = settings(checkpoint={"enabled": True, "every_n_epochs": 1, "keep_last": 2},
                      early_stopping={"enabled": True, "patience": 4},
                      lr_scheduler={"name": scheduler}, swa={"enabled": True, "start": 5})
    reference, ref_callbacks, train, test = build(config, digits, tmp_path / "reference")
    reference.fit(train, test, 8)

    directory = tmp_path / "interrupted"
    trainer, _, train, test = build(config, digits, directory, extra=[Crash(crash_at)])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(train, test, 8)
    latest = sorted(directory.glob("epoch-*.pt"))[-1]
    assert latest.name == f"epoch-{crash_at:04d}.pt"  # saved just before the crash

    resumed, callbacks, train, test = build(config, digits, directory)
    resumed.load_state_dict(torch.load(latest, weights_only=False), train, test)
    resumed.fit(train, test, 8)
    for ours, theirs in ((resumed.model, reference.model),
                         (callbacks.swa.averaged, ref_callbacks.swa.averaged)):
        for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
            assert torch.equal(a, b), name
    assert [vars(h) for h in resumed.history] == [vars(h) for h in reference.history]
    assert resumed.monitor.best_epoch == reference.monitor.best_epoch


def test_checkpoints_keep_the_last_k_and_the_best(tmp_path, digits):
    config = settings(checkpoint={"enabled": True, "every_n_epochs": 2, "keep_last": 2})
    trainer, callbacks, train, test = build(config, digits, tmp_path)
    trainer.fit(train, test, 7)
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == [
        "best.pt", "epoch-0006.pt", "epoch-0007.pt"]
    best = torch.load(tmp_path / "best.pt", weights_only=False)
    assert best["epoch"] == trainer.monitor.best_epoch


def test_only_an_unfinished_run_with_the_same_fingerprint_resumes(tmp_path):
    assert resumable_checkpoint(tmp_path, "a") is None
    (tmp_path / "epoch-0003.pt").write_bytes(b"x")
    assert resumable_checkpoint(tmp_path, "a") == tmp_path / "epoch-0003.pt"
    mark_finished(tmp_path)
    assert resumable_checkpoint(tmp_path, "a") is None and not list(tmp_path.glob("*.pt"))
    (tmp_path / "epoch-0003.pt").write_bytes(b"x")
    assert resumable_checkpoint(tmp_path, "b") is None and not list(tmp_path.glob("*.pt"))
