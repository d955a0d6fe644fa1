"""evaluate: test-set metrics and confusion matrix of a trained task model, beside the same
figures on the validation split that every choice was made on."""

from pathlib import Path

from vvpipe import numerics, stage
from vvpipe.settings.train import FixedTaskSettings
from vvpipe.data import batches
from vvpipe.evaluation import evaluate, per_class_recall
from vvpipe.models import TASK_MODELS


def main() -> None:
    task = stage.task_argument(tuple(TASK_MODELS))
    settings, device, sets = stage.setup(FixedTaskSettings, task, Path("engineered") / f"{task}.pt")
    test = stage.labelled_test_set(task)
    model = stage.load_model(TASK_MODELS[task], Path("models") / f"{task}.pt", device)

    # Batched as the original test loader is, for the per-batch means.
    metrics, predictions = evaluate(model, batches(test, settings.batch_size,
                                                   settings.shuffle_test, settings.seed + 1, device))
    val_metrics, _ = evaluate(model, batches(sets["val"], settings.batch_size, False, 0, device))
    recall = per_class_recall(predictions)
    metrics.update(min_class_recall=min(recall.values()), recall_per_class=recall,
                   val_accuracy=val_metrics["accuracy"], val_cross_entropy=val_metrics["cross_entropy"],
                   val_samples=len(sets["val"]), train_samples=len(sets["train"]),
                   epochs=settings.epochs, archive=stage.archive_identity(),
                   provenance=numerics.provenance(device))
    stage.write_json(Path("metrics") / f"{task}.json", metrics)
    stage.write_confusion(Path("reports") / task / "confusion.csv", predictions)
    print(f"{task}: test accuracy {metrics['accuracy']:.4f} (lowest class recall "
          f"{metrics['min_class_recall']:.3f}) on {metrics['test_samples']} images; validation "
          f"accuracy {metrics['val_accuracy']:.4f} on {metrics['val_samples']}")


if __name__ == "__main__":
    stage.run(main)
