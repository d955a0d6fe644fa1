import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import dataclasses

from vvpipe.config import load, parse, read_params
from vvpipe.errors import ParamsError
from vvpipe.settings.train import TrainSettings
from vvpipe.settings.task2 import Task2Settings

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
    from vvpipe.config import check_all
    from vvpipe.settings.sections import SECTIONS

    check_all(SECTIONS)


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


@pytest.mark.parametrize("values, message", [
    ({"lr": float("inf")}, r"task2\.lr must be a finite number, got inf"),
    ({"early_stopping": {"divergence_threshold": float("nan")}},
     r"task2\.early_stopping\.divergence_threshold must be a finite number, got nan"),
    ({"early_stopping": {"min_delta": float("inf")}}, r"min_delta must be a finite number"),
    ({"seed": -1}, r"task2\.seed must be in \[0, 2\*\*32\), got -1"),
    ({"seed": 2**32}, r"task2\.seed must be in \[0, 2\*\*32\)"),
    ({"lr_scheduler": {"onecycle": {"div_factor": 0}}}, r"onecycle\.div_factor must be positive"),
    ({"lr_scheduler": {"cosine": {"eta_min": -1}}}, r"cosine\.eta_min must be 0 or more"),
    ({"lr_scheduler": {"plateau": {"min_lr": -1}}}, r"plateau\.min_lr must be 0 or more"),
    ({"monitor": "val_accuracy", "mode": "min"},
     r"task2\.mode must be 'max' for monitor 'val_accuracy' \(higher is better\), got 'min'"),
    ({"monitor": "val_loss", "mode": "max"}, r"task2\.mode must be 'min' for monitor 'val_loss'"),
])
def test_values_that_would_fail_later_or_pick_the_worst_epoch_are_refused(values, message):
    with pytest.raises(ParamsError, match=message):
        parse(Task2Settings, {**TASK2, **values}, "task2")


def test_a_float_in_exponent_form_is_a_number(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("task1:\n  epochs: 2\n  lr: 1e-3\n  momentum: 0.9\n")
    assert load(TrainSettings, "task1", params).lr == 0.001


@pytest.mark.parametrize("text, message", [
    ("task1:\n  epochs: 2\n  epochs: 3\n", r"params\.yaml: key 'epochs' is written twice \(lines 2 and 3\)"),
    ("task1:\n  epochs: 2\ntask1:\n  lr: 1\n", r"key 'task1' is written twice \(lines 1 and 3\)"),
    ("task1:\n  epochs: [2\n", r"params\.yaml is not valid YAML, line \d+ column \d+"),
    ("- just\n- a list\n", r"params\.yaml must be a mapping of sections"),
])
def test_a_file_that_is_not_clean_yaml_names_the_file_and_the_line(tmp_path, text, message):
    params = tmp_path / "params.yaml"
    params.write_text(text)
    with pytest.raises(ParamsError, match=message):
        load(TrainSettings, "task1", params)


def test_a_byte_that_is_not_utf8_names_the_file(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_bytes(b"task1:\n  epochs: 2 # \xe9t\xe9\n")
    with pytest.raises(ParamsError, match=r"params\.yaml is not UTF-8 text: byte 0xe9 on line 2 \(offset 21\)"):
        load(TrainSettings, "task1", params)


ROOT = Path(__file__).resolve().parents[1]


def check_params(tmp_path: Path, edit) -> subprocess.CompletedProcess:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    edit(params)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run([sys.executable, str(ROOT / "stages/check_params.py")], cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("edit, message", [
    (lambda p: p.update(extrakt=p.pop("extract")), "unknown section 'extrakt' in params.yaml "
                                                   "(did you mean extract?)"),
    (lambda p: p["engineer"].update(task2={}), "unknown section engineer.task2"),
    (lambda p: p["task4"]["loss"]["weights"].update(l3=1.0), "unknown key task4.loss.weights.l3"),
    (lambda p: p["analyze"].update(cv_folds=1), "analyze.cv_folds must be at least 2"),
    (lambda p: p["extract"]["limits"].update(max_image_pixels=0),
     "extract.limits.max_image_pixels must be positive"),
    (lambda p: p["engineer"]["task3"].update(prior_max_ratio=0.5), "engineer.task3.prior_max_ratio"),
])
def test_the_params_check_finds_a_typo_in_any_section_within_seconds(tmp_path, edit, message):
    start = time.perf_counter()
    result = check_params(tmp_path, edit)
    assert time.perf_counter() - start < 30  # seconds; the stage itself takes about 3
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert message in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "reports/params_check.json").exists()


def test_the_params_check_passes_the_repository_params(tmp_path):
    result = check_params(tmp_path, lambda p: None)
    assert result.returncode == 0, result.stderr
    written = json.loads((tmp_path / "reports/params_check.json").read_text())
    assert set(written["sections"]) == {"extract", "task1", "task2", "task3", "task4", "analyze",
                                        "engineer.task1", "engineer.task3"}


# The original scripts order their loaders per task: task 3's shuffles its training loader and
# not its test loader, the other tasks' the other way round. Every other default is the value
# params.yaml ships.
PER_TASK_ORIGINALS = {"task3.shuffle_train", "task3.shuffle_test"}


def shipped_values_unlike_defaults(settings_class: type, values: dict, where: str) -> list[str]:
    differences = []
    for field in dataclasses.fields(settings_class):
        if field.name not in values:
            continue
        key, value = f"{where}.{field.name}", values[field.name]
        if field.default is dataclasses.MISSING:
            continue  # required: the task's own value (epochs, lr, momentum)
        if dataclasses.is_dataclass(field.default):
            differences += shipped_values_unlike_defaults(type(field.default), value, key)
        elif field.default != value and key not in PER_TASK_ORIGINALS:
            differences.append(f"{key}: code {field.default!r}, params.yaml {value!r}")
    return differences


def test_code_defaults_are_the_values_params_yaml_ships():
    """A setting left out of params.yaml (by a user's own file, or a test) behaves as the shipped
    pipeline does: no default in code says one thing while params.yaml says another."""
    from vvpipe.settings.sections import SECTIONS

    params = read_params(ROOT / "params.yaml")
    differences = []
    for name, settings_class in SECTIONS.items():
        section = params
        for part in name.split("."):
            section = section[part]
        differences += shipped_values_unlike_defaults(settings_class, section, name)
    assert differences == []


def test_the_defaults_check_sees_a_default_that_drifts():
    from vvpipe.settings.data import EngineerSettings

    shipped = {"min_steps": 8000, "oversample_jitter": {"rotation": 5.0}}
    assert shipped_values_unlike_defaults(EngineerSettings, shipped, "engineer.task1") == [
        "engineer.task1.oversample_jitter.rotation: code 10.0, params.yaml 5.0"]
