"""What the stage scripts share: their setup, their outputs (JSON, models, confusion rows, each
written atomically) and one way to report a failure."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from vvpipe import config
from vvpipe.analysis import CrossValidation
from vvpipe.archive import ArchiveError
from vvpipe.config import ParamsError
from vvpipe.data import ImageSet, load_image_sets
from vvpipe.evaluation import Predictions, confusion_rows
from vvpipe.files import atomic_output
from vvpipe.training import NonFiniteLossError, seed_everything, select_device

T = TypeVar("T")

EXPECTED_ERRORS = (ArchiveError, ParamsError, NonFiniteLossError, FileNotFoundError, ValueError)


def write_json(path: Path, payload: Any, indent: int | None = 2) -> None:
    write_text(path, json.dumps(payload, indent=indent) + "\n")


def write_text(path: Path, text: str) -> None:
    with atomic_output(path) as partial:
        partial.write_text(text)


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run the stage that writes it first")
    return json.loads(path.read_text())


def save_model(model: nn.Module, path: Path) -> None:
    """A plain state_dict, so it loads into the original model classes too."""
    with atomic_output(path) as partial:
        torch.save(model.state_dict(), partial)


def load_model(model_class: type[nn.Module], path: Path, device: torch.device) -> nn.Module:
    if not path.is_file():
        raise FileNotFoundError(f"model {path} does not exist: run its train stage first")
    model = model_class().to(device)
    model.load_state_dict(torch.load(path, map_location=device))
    return model


def write_confusion(path: Path, predictions: Predictions) -> None:
    """One actual/predicted row per test sample, for DVC's confusion-matrix template."""
    with atomic_output(path) as partial, open(partial, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["actual", "predicted"])
        writer.writeheader()
        writer.writerows(confusion_rows(predictions))


def archive_identity() -> dict:
    """Which archive the data came from (stand-in or a user's, with its sha256), per the inventory."""
    return read_json(Path("reports/inventory.json"))["archive"]


def verify_test_split(task: str) -> None:
    """Fail unless the task's test files are byte-identical to what extract unpacked."""
    from vvpipe.archive import split_digest

    recorded = read_json(Path("reports/inventory.json"))["tasks"][task]["test"]["sha256"]
    if split_digest(Path("data") / task / "test") != recorded:
        raise ValueError(f"data/{task}/test differs from the archive's test files: "
                         "the test set must not change; re-run extract")


def save_cross_validation(cross_validation: CrossValidation, path: Path) -> None:
    with atomic_output(path) as partial:
        torch.save({"folds": cross_validation.folds, "models": cross_validation.models}, partial)


def load_cross_validation(path: Path) -> CrossValidation:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run the analyze stage first")
    state = torch.load(path, weights_only=False)
    return CrossValidation(state["folds"], state["models"])


def test_labels_path(task: str) -> Path:
    return Path("prepared") / f"{task}_test_labels.pt"


def save_test_labels(test: ImageSet, task: str) -> None:
    with atomic_output(test_labels_path(task)) as partial:
        torch.save({"files": test.files, "labels": test.labels}, partial)


def labelled_test_set(task: str) -> ImageSet:
    """The task's test images with their labels: for the evaluation stages only, after checking
    that the test files are still the ones extract unpacked."""
    verify_test_split(task)
    images = load_image_sets(Path("prepared") / f"{task}.pt")["test"]
    path = test_labels_path(task)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run `dvc repro prepare@{task}`")
    stored = torch.load(path)
    return images.with_labels(stored["labels"], stored["files"])


def setup(settings_class: type[T], section: str,
          data: Path) -> tuple[T, torch.device, dict[str, ImageSet]]:
    """What a training or evaluation stage starts with: its params section (checked), every
    random source seeded from it, the device it names, and the prepared image sets."""
    settings = config.load(settings_class, section)
    seed_everything(settings.seed)
    return settings, select_device(settings.device), load_image_sets(data)


def task_argument(allowed: tuple[str, ...]) -> str:
    """The stage's single command-line argument: the task it works on."""
    if len(sys.argv) != 2 or sys.argv[1] not in allowed:
        raise ValueError(f"usage: {Path(sys.argv[0]).name} TASK with TASK one of {list(allowed)}")
    return sys.argv[1]


def run(main: Callable[[], None]) -> None:
    """Run a stage's ``main``; an expected failure prints one line naming the culprit, exit 1."""
    try:
        main()
    except EXPECTED_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
