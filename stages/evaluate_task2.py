"""evaluate_task2: test metrics of task 2's final, best and SWA models, beside their figures on
the validation split the run was monitored on."""

from pathlib import Path

from vvpipe import numerics, stage
from vvpipe.data import batches
from vvpipe.recipe import held_out_batches
from vvpipe.evaluation import evaluate
from vvpipe.models import ModelTask1
from vvpipe.settings.task2 import Task2Settings


def main() -> None:
    settings, device, sets = stage.setup(Task2Settings, "task2", Path("engineered/task1.pt"))
    test_batches = held_out_batches(stage.labelled_test_set("task1"), settings, device)
    val_batches = batches(sets["val"], settings.batch_size, False, 0, device)
    training = stage.read_json(Path("reports/task2/training.json"))

    metrics = {}
    for name in ("final", "best", "swa"):
        path = Path("models/task2") / f"{name}.pt"
        # Only SWA may be absent: when it is off, or the run stopped before it began.
        if name != "swa" or training["swa_averaged_epochs"] > 0:
            model = stage.load_model(ModelTask1, path, device)
            metrics[name], predictions = evaluate(model, test_batches)
            val, _ = evaluate(model, val_batches)
            metrics[name].update(val_accuracy=val["accuracy"], val_cross_entropy=val["cross_entropy"])
            if name == "final":
                stage.write_confusion(Path("reports/task2/confusion.csv"), predictions)
    # Wall time stays in the training report: metrics must not change when nothing else did.
    metrics.update({k: v for k, v in training.items() if k != "wall_seconds"},
                   train_samples=len(sets["train"]), archive=stage.archive_identity(),
                   provenance=numerics.provenance(device))
    stage.write_json(Path("metrics/task2.json"), metrics)
    for name in ("final", "best", "swa"):
        if name in metrics:
            print(f"task2 {name}: accuracy {metrics[name]['accuracy']:.4f}, "
                  f"cross-entropy {metrics[name]['cross_entropy']:.4f}")


if __name__ == "__main__":
    stage.run(main)
