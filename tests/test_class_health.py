"""A dead class is seen on validation, stops its run, and the next attempt starts from other
initial weights; the training budget is announced and capped before any work."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from vvpipe.class_health import ClassHealth, class_health
from vvpipe.errors import ParamsError
from vvpipe.settings.train import FixedTaskSettings
from vvpipe.data import ImageSet
from vvpipe.hooks import EpochLog
from vvpipe.recipe import fit_fixed
from vvpipe.training import announce_plan, measured_samples_per_second, planned_steps


class NeverSays(nn.Module):
    """Probabilities that put class ``missing`` last for every image: that class is dead."""

    def __init__(self, missing: int | None) -> None:
        super().__init__()
        self.missing = missing

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        labels = images[:, 0, 0, 0].long()
        logits = torch.nn.functional.one_hot(labels, 10).float() * 5
        if self.missing is not None:
            logits[:, self.missing] = -5
        return torch.softmax(logits, 1)


class FakeTrainer:
    def __init__(self, model: nn.Module) -> None:
        self.model, self.should_stop, self.stop_reason = model, False, None


def labelled_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    labels = torch.arange(40) % 10
    images = labels.float()[:, None, None, None].expand(40, 1, 28, 28).clone()
    return [(images, labels)]


def test_class_health_reads_each_class_on_its_own_images():
    health = class_health(NeverSays(missing=3), labelled_batches())
    assert health["recall"][3] == 0 and all(r == 1 for c, r in enumerate(health["recall"]) if c != 3)
    assert health["own_probability"][3] < 1e-3 < health["own_probability"][0]
    assert health["images"] == [4] * 10


@pytest.mark.parametrize("missing, stops_at", [(3, 5), (None, None)])
def test_a_run_stops_once_a_class_is_dead_past_the_grace_epochs(missing, stops_at):
    trainer = FakeTrainer(NeverSays(missing))
    watch = ClassHealth(labelled_batches(), grace=5, patience=2)
    for epoch in range(1, 9):
        watch.on_epoch_end(trainer, EpochLog(epoch, 1.0, 0.1, 1.0, 0.9))
        if trainer.should_stop:
            break
    assert (epoch if trainer.should_stop else None) == stops_at
    assert watch.dead_classes == ([3] if missing is not None else [])
    restored = ClassHealth(labelled_batches())
    restored.load_state_dict(watch.state_dict())
    assert restored.state_dict() == watch.state_dict()


class Recovering(nn.Module):
    """Class 3 is never predicted, but its own probability doubles every epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        labels = images[:, 0, 0, 0].long()
        p = torch.nn.functional.one_hot(labels, 10).float()
        p[labels == 3] = 0.0
        p[labels == 3, 3] = 1e-4 * 2 ** self.epoch
        p[labels == 3, 0] = 1 - 1e-4 * 2 ** self.epoch
        return p


def test_a_class_on_its_way_back_is_left_alone():
    model = Recovering()
    trainer = FakeTrainer(model)
    watch = ClassHealth(labelled_batches(), grace=2, patience=2)
    for epoch in range(1, 9):
        model.epoch = epoch
        watch.on_epoch_end(trainer, EpochLog(epoch, 1.0, 0.1, 1.0, 0.9))
    assert not trainer.should_stop and watch.dead_classes == []


def one_class_set(n: int = 64) -> ImageSet:
    """Images whose class the model cannot see (all identical): one class wins, the rest die."""
    images = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    labels = torch.tensor([0] * (n - 10) + list(range(10)))
    return ImageSet(images, labels, [f"{i}.png" for i in range(n)])


def test_attempts_start_from_other_initial_weights_and_stop_dead_runs_early():
    settings = FixedTaskSettings(epochs=6, lr=0.005, momentum=0.9, batch_size=32, order_attempts=2,
                             channels_last=False)
    result = fit_fixed("task1", settings, one_class_set(), one_class_set(), torch.device("cpu"),
                       progress=False)
    assert [a["init_seed"] for a in result.attempts] == [0, 1]
    for attempt in result.attempts:
        assert attempt["dead_classes"] and attempt["epochs_run"] == 4  # grace 3, then 3 epochs back
        assert attempt["stop_reason"].startswith("class ")
    assert result.plan["planned_steps"] == 2 * 6


def test_a_run_over_the_step_ceiling_fails_before_training_naming_the_key():
    with pytest.raises(ParamsError, match=r"task3\.max_steps is 100 .* take 120"):
        planned_steps(images=5000, batch_size=256, epochs=6, max_steps=100, where="task3")
    assert planned_steps(images=5120, batch_size=256, epochs=5, max_steps=100, where="t") == 100


def test_the_speed_probe_leaves_the_run_unchanged(digits):
    model = NeverSays(None)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    speed = measured_samples_per_second(linear, torch.optim.SGD, nn.CrossEntropyLoss(),
                                        digits.images, digits.labels, 64)
    assert speed > 0 and torch.equal(torch.rand(3), expected)
    assert model.missing is None
    settings = replace(FixedTaskSettings(epochs=2, lr=0.1, momentum=0.0), max_steps=10)
    plan = announce_plan(linear, nn.CrossEntropyLoss(), digits.images, digits.labels, settings,
                         "task1")
    assert plan["planned_steps"] == 2 * 2 and plan["estimated_minutes_per_run"] >= 0
