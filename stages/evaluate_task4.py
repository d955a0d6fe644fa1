"""evaluate_task4: plain cross-entropy, accuracy and logit size of the model trained with the
chosen loss, and the same figures of the plain cross-entropy reference under ``reference``."""

from pathlib import Path

from vvpipe import numerics, stage
from vvpipe.data import loaders
from vvpipe.evaluation import evaluate, logit_size_metrics
from vvpipe.losses import Task4Settings
from vvpipe.models import ModelTask4


def main() -> None:
    settings, device, sets = stage.setup(Task4Settings, "task4", Path("engineered/task1.pt"))
    test = stage.labelled_test_set("task1")

    figures = {}
    for variant in ("chosen", "reference"):
        # Fresh loaders per model: both are measured on the same test batches.
        _, test_batches = loaders(sets["train"], test, settings, device)
        model = stage.load_model(ModelTask4, Path("models/task4") / f"{variant}.pt", device)
        metrics, predictions = evaluate(model, test_batches)
        figures[variant] = {**metrics, **logit_size_metrics(predictions)}
        if variant == "chosen":
            stage.write_confusion(Path("reports/task4/confusion.csv"), predictions)
    chosen, reference = figures["chosen"], figures["reference"]
    stage.write_json(Path("metrics/task4.json"), {
        **chosen,
        "logit_size_ratio": chosen["mean_logit_size"] / reference["mean_logit_size"],
        "accuracy_change": chosen["accuracy"] - reference["accuracy"],
        "reference": reference,
        "train_samples": len(sets["train"]), "epochs": settings.epochs,
        "archive": stage.archive_identity(),
        "provenance": numerics.provenance(device),
    })
    for variant, values in figures.items():
        print(f"task4 {variant}: accuracy {values['accuracy']:.4f}, cross-entropy "
              f"{values['cross_entropy']:.4f}, mean logit size {values['mean_logit_size']:.4f}")


if __name__ == "__main__":
    stage.run(main)
