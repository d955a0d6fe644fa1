"""train_task2 as a process, in a workspace that holds only what the stage may read."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vvpipe import custody
from vvpipe.data import ImageSet, read_split, save_image_sets
from vvpipe.files import split_digest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TQDM_DISABLE": "1", "VVPIPE_THREADS": "1"}


def task2_params(**changes) -> dict:
    section = yaml.safe_load((ROOT / "params.yaml").read_text())["task2"]
    section.update(epochs=3, device="cpu", **changes)
    section["swa"]["start"] = 2
    return {"task2": section}


@pytest.fixture
def workspace(tmp_path, digits: ImageSet) -> Path:
    """engineered/task2.pt and params.yaml, and nothing of the test set."""
    val = ImageSet(digits.images[:50], digits.labels[:50], digits.files[:50])
    save_image_sets({"train": digits, "val": val}, tmp_path / "engineered" / "task2.pt")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(task2_params()))
    return tmp_path


def train_task2(workspace: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "stages" / "train_task2.py")],
                          cwd=workspace, env=ENV, capture_output=True, text=True, timeout=300)


def test_it_trains_without_any_test_file(workspace):
    """By default the monitors watch the validation split: no test image or label exists here."""
    run = train_task2(workspace)
    assert run.returncode == 0, run.stderr
    assert not (workspace / "prepared").exists() and not (workspace / "data").exists()
    training = json.loads((workspace / "reports" / "task2" / "training.json").read_text())
    assert training["monitored_on"] == "validation split"
    for name in ("final", "best", "swa"):
        assert (workspace / "models" / "task2" / f"{name}.pt").is_file()
    curves = workspace / "dvclive" / "task2" / "plots" / "metrics"
    assert (curves / "val_accuracy.tsv").is_file() and not (curves / "test_accuracy.tsv").exists()


def add_test_split(workspace: Path, write_digits, monkeypatch) -> None:
    """data/task1/test as extract and prepare leave it: files, inventory, pixels, labels."""
    test_root = workspace / "data" / "task1" / "test"
    write_digits(test_root, per_class=3)
    test = read_split(test_root)
    inventory = {"archive": {"file": "data.tar.xz"},
                 "tasks": {"task1": {"test": {"sha256": split_digest(test_root)}}}}
    (workspace / "reports").mkdir(exist_ok=True)
    (workspace / "reports" / "inventory.json").write_text(json.dumps(inventory))
    save_image_sets({"test": test.without_labels()}, workspace / "prepared" / "task1.pt")
    monkeypatch.chdir(workspace)  # prepare's own writer, which writes relative to the workspace
    custody.save_test_labels(test, "task1")


def test_the_original_test_monitoring_is_an_explicit_option_and_says_so(workspace, write_digits,
                                                                        monkeypatch):
    add_test_split(workspace, write_digits, monkeypatch)
    (workspace / "params.yaml").write_text(yaml.safe_dump(task2_params(monitor_split="test")))
    run = train_task2(workspace)
    assert run.returncode == 0, run.stderr
    assert "test figures are optimistic" in run.stdout
    training = json.loads((workspace / "reports" / "task2" / "training.json").read_text())
    assert training["monitored_on"].startswith("test set")
    curves = workspace / "dvclive" / "task2" / "plots" / "metrics"
    assert (curves / "test_accuracy.tsv").is_file() and not (curves / "val_accuracy.tsv").exists()


def test_the_test_option_without_test_labels_fails_naming_the_file(workspace, write_digits,
                                                                   monkeypatch):
    add_test_split(workspace, write_digits, monkeypatch)
    (workspace / "prepared" / "task1_test_labels.pt").unlink()
    (workspace / "params.yaml").write_text(yaml.safe_dump(task2_params(monitor_split="test")))
    run = train_task2(workspace)
    assert run.returncode == 1
    assert "prepared/task1_test_labels.pt does not exist" in run.stderr
    assert "Traceback" not in run.stderr


def test_an_unknown_monitor_split_fails_naming_the_key(workspace):
    (workspace / "params.yaml").write_text(yaml.safe_dump(task2_params(monitor_split="train")))
    run = train_task2(workspace)
    assert run.returncode == 1
    assert "task2.monitor_split must be one of ['validation', 'test'], got 'train'" in run.stderr
    assert not (workspace / "models").exists()


def test_the_settings_defaults_in_code_are_those_of_params_yaml():
    """A key left out of params.yaml must not bring back an older default."""
    import dataclasses

    from vvpipe.config import parse
    from vvpipe.settings.task2 import Task2Settings

    section = yaml.safe_load((ROOT / "params.yaml").read_text())["task2"]
    required = {f.name: section[f.name] for f in dataclasses.fields(Task2Settings)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    assert parse(Task2Settings, required, "task2") == parse(Task2Settings, section, "task2")
