"""scripts/run_queue.sh against a stand-in `dvc` that plays back queue states: it fails on failed
experiments (with their logs), and gives up instead of waiting forever when the workers die.
And scripts/task4_sweep.sh against one that records what it queues."""

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


def queued_rows(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """scripts/task4_sweep.sh against a `dvc` that records each `exp run --queue` it is given:
    one {key: value} of its -S settings per queued row."""
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "dvc"
    fake.parent.mkdir()
    fake.write_text(f'#!/usr/bin/env bash\necho "$*" >> {calls}\n')
    fake.chmod(0o755)
    result = subprocess.run(["bash", str(ROOT / "scripts/task4_sweep.sh")], capture_output=True,
                            text=True, timeout=60,
                            env={**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}",
                                 **env})
    rows = []
    for line in calls.read_text().splitlines() if calls.exists() else []:
        words = line.split()
        rows.append(dict(words[i + 1].split("=", 1) for i, word in enumerate(words)
                         if word == "-S"))
    return result, rows


def test_the_sweep_queues_the_one_custom_row_on_top_of_plain_cross_entropy(tmp_path):
    result, rows = queued_rows(tmp_path, ROWS="custom", SEEDS="0",
                               ROW="penalise=non_target ce_weight=8 target_margin=5,5.5")
    assert result.returncode == 0, result.stderr
    assert len(rows) == 1
    row = rows[0]
    assert row["task4.seed"] == "0"
    assert row["task4.loss.target_margin"] == "5,5.5"  # a grid: one experiment per value
    assert row["task4.loss.ce_weight"] == "8" and row["task4.loss.penalise"] == "non_target"
    # Every key the row leaves alone is plain cross-entropy's.
    assert row["task4.loss.weights.l1"] == "0" and row["task4.loss.ce_scale"] == "1"


def test_a_custom_sweep_without_its_row_queues_nothing(tmp_path):
    result, rows = queued_rows(tmp_path, ROWS="custom")
    assert result.returncode == 2 and "ROW" in result.stderr
    assert rows == []
