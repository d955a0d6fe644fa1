"""evaluate: test-set metrics and confusion matrix of a trained task model."""

from pathlib import Path

from vvpipe import stage
from vvpipe.config import TrainSettings
from vvpipe.data import loaders
from vvpipe.evaluation import evaluate
from vvpipe.models import TASK_MODELS


def main() -> None:
    task = stage.task_argument(tuple(TASK_MODELS))
    settings, device, sets = stage.setup(TrainSettings, task, Path("engineered") / f"{task}.pt")
    stage.verify_test_split(task)
    model = stage.load_model(TASK_MODELS[task], Path("models") / f"{task}.pt", device)

    # The same test batches the training loop validated on, for the per-batch means.
    _, test_batches = loaders(sets["train"], sets["test"], settings, device)
    metrics, predictions = evaluate(model, test_batches)
    metrics.update(train_samples=len(sets["train"]), epochs=settings.epochs,
                   archive=stage.archive_identity())
    stage.write_json(Path("metrics") / f"{task}.json", metrics)
    stage.write_confusion(Path("reports") / task / "confusion.csv", predictions)
    print(f"{task}: accuracy {metrics['accuracy']:.4f}, cross-entropy "
          f"{metrics['cross_entropy']:.4f} on {metrics['test_samples']} test images")


if __name__ == "__main__":
    stage.run(main)
