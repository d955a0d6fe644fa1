import pytest

from vvpipe.config import ParamsError, TrainSettings, load, parse
from vvpipe.task2 import Task2Settings

GOOD = {"epochs": 3, "lr": 0.005, "momentum": 0.9}


def test_parse_fills_defaults_and_converts_ints_to_floats():
    settings = parse(TrainSettings, {"epochs": 3, "lr": 1, "momentum": 0}, "task1")
    assert settings.lr == 1.0 and isinstance(settings.lr, float)
    assert settings.batch_size == 256 and settings.shuffle_train is False


@pytest.mark.parametrize("values, message", [
    ({**GOOD, "epoch": 3}, r"unknown key task1\.epoch \(did you mean task1\.epochs\?\)"),
    ({"lr": 0.1, "momentum": 0.9}, r"missing key task1\.epochs"),
    ({**GOOD, "epochs": "ten"}, r"task1\.epochs must be of type int"),
    ({**GOOD, "shuffle_train": "yes"}, r"task1\.shuffle_train must be of type bool"),
    ({**GOOD, "epochs": 0}, r"task1\.epochs must be at least 1"),
    ({**GOOD, "lr": -0.1}, r"task1\.lr must be positive"),
    ({**GOOD, "device": "gpu"}, r"task1\.device must be auto, cpu"),
    ({**GOOD, "batch_size": True}, r"task1\.batch_size must be of type int"),
])
def test_bad_values_name_the_key(values, message):
    with pytest.raises(ParamsError, match=message):
        parse(TrainSettings, values, "task1")


def test_load_reads_one_section(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("task1:\n  epochs: 2\n  lr: 0.01\n  momentum: 0.5\n")
    assert load(TrainSettings, "task1", params).epochs == 2
    with pytest.raises(ParamsError, match="no section 'task3'"):
        load(TrainSettings, "task3", params)


def test_the_repository_params_are_valid():
    for task in ("task1", "task3"):
        load(TrainSettings, task)
    load(Task2Settings, "task2")


TASK2 = {"epochs": 10, "lr": 0.001, "momentum": 0.9}


@pytest.mark.parametrize("values, message", [
    ({"lr_scheduler": {"name": "cyclic"}},
     r"task2\.lr_scheduler\.name must be one of \['none', 'plateau', 'cosine', 'step', 'onecycle'\]"),
    ({"early_stopping": {"patience": 0}}, r"task2\.early_stopping\.patience must be at least 1"),
    ({"swa": {"start": 11}}, r"task2\.swa\.start is epoch 11, beyond the last epoch 10"),
    ({"swa": {"start": 1.5}}, r"task2\.swa\.start as a fraction must be in \(0, 1\)"),
    ({"swa": {"strat": 3}}, r"unknown key task2\.swa\.strat \(did you mean task2\.swa\.start\?\)"),
    ({"swa": {"anneal_strategy": "cosine"}},
     r"task2\.swa\.anneal_strategy must be one of \['cos', 'linear'\]"),
    ({"monitor": "accuracy"}, r"task2\.monitor must be one of \['train_loss', 'val_loss', 'val_accuracy'\]"),
    ({"lr_scheduler": {"plateau": {"factor": 2}}}, r"task2\.lr_scheduler\.plateau\.factor must be in"),
    ({"checkpoint": "yes"}, r"task2\.checkpoint must be a mapping"),
])
def test_bad_task2_options_name_the_key_and_the_allowed_values(values, message):
    with pytest.raises(ParamsError, match=message):
        parse(Task2Settings, {**TASK2, **values}, "task2")


def test_swa_start_as_a_fraction_or_an_epoch():
    assert parse(Task2Settings, {**TASK2, "swa": {"start": 0.75}}, "task2").swa.start_epoch(10) == 8
    assert parse(Task2Settings, {**TASK2, "swa": {"start": 3}}, "task2").swa.start_epoch(10) == 3
    # SWA off: its start is not checked against the epochs.
    parse(Task2Settings, {**TASK2, "swa": {"enabled": False, "start": 99}}, "task2")
