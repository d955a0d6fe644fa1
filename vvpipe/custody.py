"""Custody of the test labels: ``prepare`` stores them apart from the test pixels, and only the
evaluation stages read them back, after checking that the test files are still the ones extract
unpacked and that the tensors scored are their decoded pixels."""

from __future__ import annotations

from pathlib import Path

import torch

from vvpipe.data import ImageSet, load_image_sets, read_split
from vvpipe.errors import DataError, MissingInputError
from vvpipe.files import atomic_output, split_digest
from vvpipe.stage import read_json


def verify_test_split(task: str) -> None:
    """Fail unless the task's test files are byte-identical to what extract unpacked."""
    recorded = read_json(Path("reports/inventory.json"))["tasks"][task]["test"]["sha256"]
    if split_digest(Path("data") / task / "test") != recorded:
        raise DataError(f"data/{task}/test differs from the archive's test files: "
                         "the test set must not change; re-run extract")


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
