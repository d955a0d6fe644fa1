"""The raw-set baseline of one task: the fixed model with the original loaders, trained on the
training set as the archive gives it and scored on the test set. Run in a repository whose
`dvc repro prepare@TASK` has run; prints one JSON line.

    python benchmarks/raw_baseline.py task1
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vvpipe import custody, runtime, stage  # noqa: E402
from vvpipe.settings.train import FIXED_TASK_SETTINGS  # noqa: E402
from vvpipe.evaluation import classification_metrics, per_class_recall, predict  # noqa: E402
from vvpipe.recipe import held_out_batches, original_run  # noqa: E402


def main() -> None:
    task = stage.task_argument(("task1", "task3"))
    settings, device, sets = runtime.setup(FIXED_TASK_SETTINGS[task], task, Path("prepared") / f"{task}.pt")
    test = custody.labelled_test_set(task)
    model = original_run(task, settings, sets["train"], test, device)
    predictions = predict(model, held_out_batches(test, settings, device))
    print(json.dumps({"accuracy": classification_metrics(predictions)["accuracy"],
                      "min_class_recall": min(per_class_recall(predictions).values()),
                      "train_images": len(sets["train"])}))


if __name__ == "__main__":
    stage.run(main)
