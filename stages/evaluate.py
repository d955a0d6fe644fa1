"""evaluate: test-set metrics and confusion matrix of a trained task model, beside the same
figures on the validation split that every choice was made on. metrics/<task>.json keeps the
headline; reports/<task>/evaluation.json everything measured, with the run's provenance."""

from pathlib import Path

from vvpipe import custody, models, numerics, runtime, stage
from vvpipe.evaluation import headline, predict, scored, write_confusion
from vvpipe.models import TASK_MODELS
from vvpipe.recipe import held_out_batches, scoring_batches
from vvpipe.settings.train import FIXED_TASK_SETTINGS


def main() -> None:
    task = stage.task_argument(tuple(TASK_MODELS))
    settings, device, sets = runtime.setup(FIXED_TASK_SETTINGS[task], task, Path("engineered") / f"{task}.pt")
    test = custody.labelled_test_set(task)
    model = models.load_model(TASK_MODELS[task], Path("models") / f"{task}.pt", device)

    # Batched as the original test loader is, for the per-batch means.
    predictions = predict(model, held_out_batches(test, settings, device))
    val = predict(model, scoring_batches(sets["val"], settings, device))
    val_matched = (predict(model, scoring_batches(sets["val_matched"], settings, device))
                   if "val_matched" in sets else None)
    record = scored(predictions, val, val_matched)
    record.update(train_samples=len(sets["train"]), epochs=settings.epochs,
                  archive=stage.archive_identity(), provenance=numerics.provenance(device))
    stage.write_json(Path("reports") / task / "evaluation.json", record)
    stage.write_json(Path("metrics") / f"{task}.json", headline(record))
    write_confusion(Path("reports") / task / "confusion.csv", predictions)
    print(f"{task}: test accuracy {record['accuracy']:.4f} (lowest class recall "
          f"{record['min_class_recall']:.3f}) on {record['test_samples']} images; validation "
          f"accuracy {record['val_accuracy']:.4f} on {record['val_samples']}" +
          (f", {record['val_matched_accuracy']:.4f} on its test-matched copy"
           if val_matched is not None else ""))


if __name__ == "__main__":
    stage.run(main)
