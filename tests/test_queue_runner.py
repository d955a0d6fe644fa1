"""scripts/run_queue.sh against a stand-in `dvc` that plays back queue states: it fails on failed
experiments (with their logs), and gives up instead of waiting forever when the workers die."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FAKE_DVC = """#!/usr/bin/env bash
# Before the first `queue start` both tasks are queued; after it, the scenario's rows.
state={state}
case "$1 $2" in
  "queue start") echo started >> "$state/starts" ;;
  "queue logs") echo "log of $3: Traceback ... ValueError: boom" ;;
  "queue status")
    echo "Task     Name   Created    Status"
    if [ -f "$state/starts" ]; then cat "$state/rows"; else
      printf 'aaa1111  one    10:00 AM   Queued\\nbbb2222  two    10:00 AM   Queued\\n'; fi
    echo
    echo "Worker status: $(cat "$state/workers") active, 0 idle" ;;
esac
"""

SCENARIOS = {
    "all succeed": ("aaa1111  one  10:00 AM  Success\nbbb2222  two  10:00 AM  Success\n", 0),
    "one fails": ("aaa1111  one  10:00 AM  Success\nbbb2222  two  10:00 AM  Failed\n", 0),
    "workers die": ("aaa1111  one  10:00 AM  Success\nbbb2222  two  10:00 AM  Queued\n", 0),
}


def run_queue(tmp_path: Path, scenario: str) -> tuple[subprocess.CompletedProcess, int]:
    rows, workers = SCENARIOS[scenario]
    state = tmp_path / "state"
    state.mkdir()
    (state / "rows").write_text(rows)
    (state / "workers").write_text(str(workers))
    fake = tmp_path / "bin" / "dvc"
    fake.parent.mkdir()
    fake.write_text(FAKE_DVC.format(state=state))
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "POLL": "0"}
    result = subprocess.run(["bash", str(ROOT / "scripts/run_queue.sh")], capture_output=True,
                            text=True, env=env, timeout=60)
    starts = len((state / "starts").read_text().splitlines())
    return result, starts


def test_all_succeed(tmp_path):
    result, starts = run_queue(tmp_path, "all succeed")
    assert result.returncode == 0 and "all 2 experiments succeeded" in result.stdout
    assert starts == 1


def test_a_failed_experiment_fails_the_run_and_shows_its_log(tmp_path):
    result, _ = run_queue(tmp_path, "one fails")
    assert result.returncode == 1
    assert "log of bbb2222" in result.stderr and "log of aaa1111" not in result.stderr
    assert "1 of 2 experiments failed: bbb2222" in result.stderr


@pytest.mark.timeout(60)
def test_dead_workers_are_restarted_once_then_the_run_fails(tmp_path):
    result, starts = run_queue(tmp_path, "workers die")
    assert result.returncode == 1
    assert "restarting the workers" in result.stderr
    assert "even after a restart" in result.stderr
    assert starts == 2
