"""What every stage script shares: atomic JSON output and one way to report a failure."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vvpipe.archive import ArchiveError
from vvpipe.config import ParamsError
from vvpipe.training import NonFiniteLossError

EXPECTED_ERRORS = (ArchiveError, ParamsError, NonFiniteLossError, FileNotFoundError, ValueError)


def write_json(path: Path, payload: Any) -> None:
    """Write through a temporary file so a crash never leaves half a JSON behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(payload, indent=2) + "\n")
    partial.replace(path)


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run the stage that writes it first")
    return json.loads(path.read_text())


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
