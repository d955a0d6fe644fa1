"""Progress bars on long work (training epochs, cross-validation folds)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_bar(iterable: Iterable[T], enabled: bool = True, **options: Any) -> Iterable[T]:
    """A tqdm bar that follows tqdm's own rules: off when the output is not a terminal (queue and
    CI logs stay free of carriage returns) and whatever ``TQDM_DISABLE`` says when it is set."""
    if not enabled:
        options["disable"] = True
    elif "TQDM_DISABLE" not in os.environ:
        # An explicit argument would override the environment variable; None means "not a tty".
        options["disable"] = None
    return tqdm(iterable, **options)
