"""What every stage script shares: its command line, JSON and text outputs written atomically,
and one way to report a failure. Nothing here imports torch: extract, which judges untrusted
archives, runs in a process of about 60 MB. Setup lives in ``runtime``, test-label custody in
``custody``, model files in ``models``."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vvpipe import numerics
from vvpipe.errors import MissingInputError, PipelineError, UsageError
from vvpipe.files import atomic_output


def write_json(path: Path, payload: Any, indent: int | None = 2) -> None:
    write_text(path, json.dumps(payload, indent=indent) + "\n")


def write_text(path: Path, text: str) -> None:
    with atomic_output(path) as partial:
        partial.write_text(text)


# Where a run's timings go: they change on every run, so they are kept out of every output DVC
# hashes and git tracks (a re-run of a commit then leaves `git status` clean). Timing studies
# are the benchmarks' job (studies/timing.json).
TIMING_LOG = Path("logs/timing")


def write_timing(stage_name: str, record: dict) -> None:
    """This run's wall times and speeds of ``stage_name``, in logs/timing/<stage>.json (not
    tracked), and on the console."""
    write_json(TIMING_LOG / f"{stage_name}.json", record)
    shown = ", ".join(f"{key} {value}" for key, value in record.items()
                      if isinstance(value, (int, float)) and not isinstance(value, bool))
    print(f"{stage_name}: {shown} (logs/timing/{stage_name}.json)")


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise MissingInputError(f"{path} does not exist: run the stage that writes it first")
    return json.loads(path.read_text())


def archive_identity() -> dict:
    """Which archive the data came from (stand-in or a user's, with its sha256), per the inventory."""
    return read_json(Path("reports/inventory.json"))["archive"]


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
