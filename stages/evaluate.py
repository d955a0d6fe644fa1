"""evaluate: test-set metrics and confusion matrix of a trained task model."""

import csv
from pathlib import Path

import torch

from vvpipe import config, stage
from vvpipe.config import TrainSettings
from vvpipe.data import batches, load_image_sets
from vvpipe.evaluation import classification_metrics, confusion_rows, predict
from vvpipe.models import TASK_MODELS
from vvpipe.training import seed_everything, select_device


def main() -> None:
    task = stage.task_argument(tuple(TASK_MODELS))
    settings = config.load(TrainSettings, task)
    seed_everything(settings.seed)
    device = select_device(settings.device)
    sets = load_image_sets(Path("prepared") / f"{task}.pt")

    model = TASK_MODELS[task]().to(device)
    model.load_state_dict(torch.load(Path("models") / f"{task}.pt", map_location=device))
    # The same test batches the training loop validated on, for the per-batch means.
    predictions = predict(model, batches(sets["test"], settings.batch_size,
                                         settings.shuffle_test, settings.seed + 1, device))
    inventory = stage.read_json(Path("reports/inventory.json"))
    metrics = {
        **classification_metrics(predictions),
        "train_samples": len(sets["train"]),
        "epochs": settings.epochs,
        "archive": inventory["archive"],
    }
    stage.write_json(Path("metrics") / f"{task}.json", metrics)

    confusion = Path("reports") / task / "confusion.csv"
    confusion.parent.mkdir(parents=True, exist_ok=True)
    with open(confusion, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["actual", "predicted"])
        writer.writeheader()
        writer.writerows(confusion_rows(predictions))
    print(f"{task}: accuracy {metrics['accuracy']:.4f}, cross-entropy "
          f"{metrics['cross_entropy']:.4f} on {metrics['test_samples']} test images")


if __name__ == "__main__":
    stage.run(main)
