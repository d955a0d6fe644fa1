"""train_task4 and evaluate_task4 as processes, in a workspace with their engineered set."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vvpipe.data import ImageSet, save_image_sets

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TQDM_DISABLE": "1", "VVPIPE_THREADS": "1"}


def task4_params(**changes) -> dict:
    section = yaml.safe_load((ROOT / "params.yaml").read_text())["task4"]
    section.update(epochs=2, device="cpu", **changes)
    return {"task4": section}


@pytest.fixture
def workspace(tmp_path, digits: ImageSet) -> Path:
    val = ImageSet(digits.images[:50], digits.labels[:50], digits.files[:50])
    save_image_sets({"train": digits, "val": val}, tmp_path / "engineered" / "task4.pt")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "inventory.json").write_text(json.dumps({"archive": {"kind": "test"}}))
    return tmp_path


def run_stage(workspace: Path, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "stages" / command[0]), *command[1:]],
                          cwd=workspace, env=ENV, capture_output=True, text=True, timeout=300)


def test_both_models_train_on_the_same_stratified_share(workspace):
    (workspace / "params.yaml").write_text(yaml.safe_dump(task4_params(train_samples=100)))
    for variant in ("reference", "chosen"):
        run = run_stage(workspace, "train_task4.py", variant)
        assert run.returncode == 0, run.stderr
    records = {variant: json.loads((workspace / "reports" / "task4" /
                                    f"training_{variant}.json").read_text())
               for variant in ("reference", "chosen")}
    for record in records.values():
        assert record["status"] == "completed" and record["epochs_run"] == 2
        assert record["train_images"] == 100 and record["engineered_images"] == 300
    assert records["reference"]["loss"]["weights"]["l1"] == 0
    assert records["chosen"]["loss"] == task4_params()["task4"]["loss"]


def test_a_diverging_loss_is_recorded_as_failed_with_its_settings(workspace):
    """A sweep point whose training loss goes non-finite is a result, not a crash: the queue
    goes on, and the metrics say which settings failed."""
    (workspace / "params.yaml").write_text(yaml.safe_dump(task4_params(lr=1e12)))
    for variant in ("reference", "chosen"):
        run = run_stage(workspace, "train_task4.py", variant)
        assert run.returncode == 0, run.stderr
        record = json.loads((workspace / "reports/task4" / f"training_{variant}.json").read_text())
        assert record["status"].startswith("failed: training loss became")
        assert record["epochs_run"] < 2
    run = run_stage(workspace, "evaluate_task4.py")
    assert run.returncode == 0, run.stderr
    assert json.loads((workspace / "metrics" / "task4.json").read_text()) == {}
    metrics = json.loads((workspace / "reports/task4/evaluation.json").read_text())
    assert metrics["status"].startswith("chosen failed: training loss became")
    assert "reference failed" in metrics["status"]
    assert metrics["loss"] == task4_params()["task4"]["loss"] and "accuracy" not in metrics
