"""What the stage scripts share: their setup, their outputs (JSON, models, confusion rows, each
written atomically) and one way to report a failure.

Torch, and the modules built on it, are imported by the functions that use them: extract, which
judges untrusted archives, then runs in a process of about 60 MB instead of 700 MB."""

from __future__ import annotations

import csv
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from typing import TYPE_CHECKING

from vvpipe import config, numerics
from vvpipe.errors import DataError, MissingInputError, PipelineError, UsageError
from vvpipe.files import atomic_output, split_digest

if TYPE_CHECKING:
    import torch
    from torch import nn

    from vvpipe.data import ImageSet
    from vvpipe.evaluation import Predictions

T = TypeVar("T")

def write_json(path: Path, payload: Any, indent: int | None = 2) -> None:
    write_text(path, json.dumps(payload, indent=indent) + "\n")


def write_text(path: Path, text: str) -> None:
    with atomic_output(path) as partial:
        partial.write_text(text)


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise MissingInputError(f"{path} does not exist: run the stage that writes it first")
    return json.loads(path.read_text())


def save_model(model: nn.Module, path: Path) -> None:
    """A plain state_dict, so it loads into the original model classes too."""
    import torch

    with atomic_output(path) as partial:
        torch.save(model.state_dict(), partial)


def load_model(model_class: type[nn.Module], path: Path, device: torch.device) -> nn.Module:
    import torch

    if not path.is_file():
        raise MissingInputError(f"model {path} does not exist: run its train stage first")
    model = model_class().to(device)
    model.load_state_dict(torch.load(path, map_location=device))
    return model


def write_confusion(path: Path, predictions: Predictions) -> None:
    """One actual/predicted row per test sample, for DVC's confusion-matrix template."""
    from vvpipe.evaluation import confusion_rows

    with atomic_output(path) as partial, open(partial, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["actual", "predicted"])
        writer.writeheader()
        writer.writerows(confusion_rows(predictions))


def archive_identity() -> dict:
    """Which archive the data came from (stand-in or a user's, with its sha256), per the inventory."""
    return read_json(Path("reports/inventory.json"))["archive"]


def verify_test_split(task: str) -> None:
    """Fail unless the task's test files are byte-identical to what extract unpacked."""
    recorded = read_json(Path("reports/inventory.json"))["tasks"][task]["test"]["sha256"]
    if split_digest(Path("data") / task / "test") != recorded:
        raise DataError(f"data/{task}/test differs from the archive's test files: "
                         "the test set must not change; re-run extract")


def test_labels_path(task: str) -> Path:
    return Path("prepared") / f"{task}_test_labels.pt"


def save_test_labels(test: ImageSet, task: str) -> None:
    import torch

    with atomic_output(test_labels_path(task)) as partial:
        torch.save({"files": test.files, "labels": test.labels}, partial)


def labelled_test_set(task: str) -> ImageSet:
    """The task's test images with their labels: for the evaluation stages only, after checking
    that the test files are still the ones extract unpacked."""
    import torch

    from vvpipe.data import load_image_sets, read_split

    verify_test_split(task)
    images = load_image_sets(Path("prepared") / f"{task}.pt")["test"]
    path = test_labels_path(task)
    if not path.is_file():
        raise MissingInputError(f"{path} does not exist: run `dvc repro prepare@{task}`")
    stored = torch.load(path)
    labelled = images.with_labels(stored["labels"], stored["files"])
    # The tensors scored must be the decoded test files, not merely come from the same archive.
    decoded = read_split(Path("data") / task / "test")
    if (decoded.files != labelled.files or not torch.equal(decoded.images, labelled.images)
            or not torch.equal(decoded.labels, labelled.labels)):
        raise DataError(f"the test images in prepared/{task}.pt are not the decoded files of "
                        f"data/{task}/test: re-run `dvc repro prepare@{task}`")
    return labelled


def setup(settings_class: type[T], section: str,
          data: Path) -> tuple[T, torch.device, dict[str, ImageSet]]:
    """What a training or evaluation stage starts with: its params section (checked), every
    random source seeded from it, the device it names, and the prepared image sets."""
    from vvpipe.data import load_image_sets
    from vvpipe.training import seed_everything, select_device

    settings = config.load(settings_class, section)
    seed_everything(settings.seed)
    return settings, select_device(settings.device), load_image_sets(data)


def task_argument(allowed: tuple[str, ...]) -> str:
    """The stage's single command-line argument: the task it works on."""
    if len(sys.argv) != 2 or sys.argv[1] not in allowed:
        raise UsageError(f"usage: {Path(sys.argv[0]).name} TASK with TASK one of {list(allowed)}")
    return sys.argv[1]


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by {signal.Signals(signum).name}: partial outputs removed")


def run(main: Callable[[], None]) -> None:
    """Run a stage's ``main`` with the pinned numerics. Bad input (a ``PipelineError``) prints one
    line naming the culprit and exits 1; anything else is a bug and keeps its traceback. SIGTERM
    (`kill`, a queue cancelling a run) unwinds like an error, so no partial output stays behind."""
    signal.signal(signal.SIGTERM, _stop)
    try:
        numerics.pin()
        main()
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
