"""evaluate_task2: test metrics of task 2's final, best and SWA models."""

from pathlib import Path

from vvpipe import numerics, stage
from vvpipe.config import Task2Settings
from vvpipe.data import loaders
from vvpipe.evaluation import evaluate
from vvpipe.models import ModelTask1


def main() -> None:
    settings, device, sets = stage.setup(Task2Settings, "task2", Path("engineered/task1.pt"))
    _, test_batches = loaders(sets["train"], stage.labelled_test_set("task1"), settings, device)
    training = stage.read_json(Path("reports/task2/training.json"))

    metrics = {}
    for name in ("final", "best", "swa"):
        path = Path("models/task2") / f"{name}.pt"
        if path.is_file():
            metrics[name], predictions = evaluate(stage.load_model(ModelTask1, path, device),
                                                  test_batches)
            if name == "final":
                stage.write_confusion(Path("reports/task2/confusion.csv"), predictions)
    metrics.update(training, train_samples=len(sets["train"]), archive=stage.archive_identity(),
                   provenance=numerics.provenance(device))
    stage.write_json(Path("metrics/task2.json"), metrics)
    for name in ("final", "best", "swa"):
        if name in metrics:
            print(f"task2 {name}: accuracy {metrics[name]['accuracy']:.4f}, "
                  f"cross-entropy {metrics[name]['cross_entropy']:.4f}")


if __name__ == "__main__":
    stage.run(main)
