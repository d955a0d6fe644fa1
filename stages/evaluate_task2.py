"""evaluate_task2: test metrics of task 2's final, best and SWA models, beside their figures on
the validation split the run was monitored on. metrics/task2/<model>.json keeps each model's
headline (an empty file for SWA when no SWA model exists); reports/task2/evaluation.json holds
everything measured and the run's record."""

from pathlib import Path

from vvpipe import custody, models, numerics, runtime, stage
from vvpipe.evaluation import headline, predict, scored, write_confusion
from vvpipe.models import ModelTask1
from vvpipe.recipe import held_out_batches, scoring_batches
from vvpipe.settings.task2 import Task2Settings

MODELS = ("final", "best", "swa")


def main() -> None:
    settings, device, sets = runtime.setup(Task2Settings, "task2", Path("engineered/task2.pt"))
    test_batches = held_out_batches(custody.labelled_test_set("task1"), settings, device)
    val_batches = scoring_batches(sets["val"], settings, device)
    training = stage.read_json(Path("reports/task2/training.json"))

    records = {}
    for name in MODELS:
        # Only SWA may be absent: when it is off, or the run stopped before it began.
        if name != "swa" or training["swa_averaged_epochs"] > 0:
            model = models.load_model(ModelTask1, Path("models/task2") / f"{name}.pt", device)
            predictions = predict(model, test_batches)
            records[name] = scored(predictions, predict(model, val_batches))
            if name == "final":
                write_confusion(Path("reports/task2/confusion.csv"), predictions)
        stage.write_json(Path("metrics/task2") / f"{name}.json",
                         headline(records[name]) if name in records else {})
    stage.write_json(Path("reports/task2/evaluation.json"), {
        **records, "training": training, "train_samples": len(sets["train"]),
        "archive": stage.archive_identity(), "provenance": numerics.provenance(device)})
    for name, record in records.items():
        print(f"task2 {name}: accuracy {record['accuracy']:.4f}, "
              f"cross-entropy {record['cross_entropy']:.4f}")


if __name__ == "__main__":
    stage.run(main)
