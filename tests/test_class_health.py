"""A dead class is seen on validation, stops its run, and the next attempt starts from other
initial weights; the training budget is announced and capped before any work."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from vvpipe.class_health import ClassHealth, ClassRescue, class_health
from vvpipe.errors import ParamsError
from vvpipe.settings.train import FixedTaskSettings
from vvpipe.data import ImageSet, TensorBatches
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
    def __init__(self, model: nn.Module, train_batches: TensorBatches | None = None) -> None:
        self.model, self.should_stop, self.stop_reason = model, False, None
        self.train_batches = train_batches


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


def imbalanced_batches(shuffle: bool = False) -> TensorBatches:
    """1,000 labels: class 9 has 20 images, the others 76 or 150."""
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate([150] * 4 + [76] * 5 + [20])])
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]
    images = labels.float()[:, None, None, None].expand(-1, 1, 28, 28).clone()
    images[:, 0, 0, 1] = torch.arange(len(labels)).float()  # which image was drawn
    return TensorBatches(images, labels, 100, shuffle, torch.Generator().manual_seed(1))


def drawn_labels(batches: TensorBatches) -> torch.Tensor:
    return torch.cat([labels for _, labels in batches])


def drawn_images_of(batches: TensorBatches, label: int) -> list[int]:
    return [int(i) for images, labels in batches for i in images[labels == label, 0, 0, 1]]


def test_a_pass_drawn_by_class_keeps_its_length_and_gives_each_class_its_weighted_share():
    batches = imbalanced_batches()
    plain = drawn_labels(batches)
    batches.draw_by_class(torch.tensor([1.0] * 9 + [4.0]), torch.Generator().manual_seed(2))
    drawn = drawn_labels(batches)
    counts = torch.bincount(drawn, minlength=10)
    assert len(drawn) == len(plain) == 1000
    # class 9's natural share is 20 of 1,000; at 4x it is 80 of 1,060 weighted images
    assert abs(int(counts[9]) - 1000 * 80 / 1060) <= 1
    assert abs(int(counts[0]) - 1000 * 150 / 1060) <= 1
    # a class drawn less than it holds repeats no image: its images come from one permutation
    drawn_of_0 = drawn_images_of(batches, 0)
    assert 150 > len(drawn_of_0) == len(set(drawn_of_0))
    batches.draw_by_class(None, torch.Generator())
    assert torch.equal(drawn_labels(batches), plain)


def test_the_rescue_gives_a_class_that_falls_behind_more_of_the_next_pass_and_nothing_else():
    batches = imbalanced_batches()
    plain = drawn_labels(batches)
    falling = ClassRescue(labelled_batches(), max_weight=4.0, seed=0)
    trainer = FakeTrainer(NeverSays(missing=9), batches)
    falling.on_fit_start(trainer)
    falling.on_epoch_end(trainer, EpochLog(1, 1.0, 0.1, 1.0, 0.9))
    assert falling.weights == [1.0] * 9 + [4.0]
    assert torch.bincount(drawn_labels(batches), minlength=10)[9] > 60  # 20 in a plain pass
    restored = ClassRescue(labelled_batches(), max_weight=4.0, seed=5)
    restored.load_state_dict(falling.state_dict())
    assert restored.weights == falling.weights
    assert torch.equal(restored.generator.get_state(), falling.generator.get_state())

    healthy = ClassRescue(labelled_batches(), max_weight=4.0, seed=0)
    trainer = FakeTrainer(NeverSays(missing=None), batches)
    healthy.on_epoch_end(trainer, EpochLog(1, 1.0, 0.1, 1.0, 0.9))
    assert healthy.weights is None and torch.equal(drawn_labels(batches), plain)


def test_a_rescue_weight_below_one_fails_naming_the_key():
    with pytest.raises(ParamsError, match=r"task1\.rescue_max_weight"):
        FixedTaskSettings(epochs=1, lr=0.1, momentum=0.0, rescue_max_weight=0.5).validate("task1")
