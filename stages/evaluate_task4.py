"""evaluate_task4: plain cross-entropy, accuracy and logit size of the model trained with the
chosen loss and of the plain cross-entropy reference, on task 1's test set and on the validation
split the sweep chooses by; where the chosen model sits between the analytic bound and the
temperature baseline. metrics/task4.json keeps the headline (empty when a training failed);
reports/task4/evaluation.json everything measured."""

import math
from pathlib import Path

from vvpipe import custody, models, numerics, runtime, stage
from vvpipe.evaluation import (Predictions, evaluate, logit_size_metrics, mean_logit_size,
                               on_test, per_class_recall, write_confusion)
from vvpipe.frontier import logit_size_bound, temperature_curve, temperature_for
from vvpipe.models import ModelTask4
from vvpipe.recipe import held_out_batches, scoring_batches
from vvpipe.settings.task4 import Task4Settings

REPORT = Path("reports/task4/evaluation.json")
METRICS = Path("metrics/task4.json")

VARIANTS = ("chosen", "reference")


def comparison(chosen: dict, reference: dict) -> dict[str, float]:
    return {"logit_size_ratio": chosen["mean_logit_size"] / reference["mean_logit_size"],
            "accuracy_change": chosen["accuracy"] - reference["accuracy"],
            "cross_entropy_change": chosen["cross_entropy"] / reference["cross_entropy"] - 1}


def temperature_baseline(reference: Predictions, cross_entropy: float) -> dict | None:
    """The reference's logits divided by the T that gives them ``cross_entropy``: what a
    temperature after training reaches at the chosen model's evaluation loss. None at or above
    uniform guessing, where only T = inf (every logit 0) matches."""
    temperature = temperature_for(reference.outputs.double(), reference.labels, cross_entropy)
    if temperature is None or not math.isfinite(temperature):
        return None
    return {"temperature": temperature,
            "mean_logit_size": mean_logit_size(reference) / temperature}


def main() -> None:
    settings, device, sets = runtime.setup(Task4Settings, "task4", Path("engineered/task4.pt"))
    runs = {variant: stage.read_json(Path("reports/task4") / f"training_{variant}.json")
            for variant in VARIANTS}
    failed = {variant: run["status"] for variant, run in runs.items()
              if run["status"] != "completed"}
    if failed:
        for variant, status in failed.items():
            print(f"task4 {variant}: training {status}; no figures for it")
        stage.write_json(REPORT, {
            "status": "; ".join(f"{variant} {status}" for variant, status in failed.items()),
            "loss": runs["chosen"]["loss"], "archive": stage.archive_identity()})
        stage.write_json(METRICS, {})
        return

    test = custody.labelled_test_set("task1")
    figures, validation, outputs = {}, {}, {}
    for variant in VARIANTS:
        model = models.load_model(ModelTask4, Path("models/task4") / f"{variant}.pt", device)
        # Fresh batches per model: both are measured on the same test batches.
        test_batches = held_out_batches(test, settings, device)
        metrics, predictions = evaluate(model, test_batches)
        figures[variant] = {**on_test(metrics), **logit_size_metrics(predictions)}
        outputs[variant] = predictions
        if variant == "chosen":
            write_confusion(Path("reports/task4/confusion.csv"), predictions)
        val_metrics, val_predictions = evaluate(
            model, scoring_batches(sets["val"], settings, device))
        validation[variant] = {"accuracy": val_metrics["accuracy"],
                               "cross_entropy": val_metrics["cross_entropy"],
                               "mean_logit_size": mean_logit_size(val_predictions)}
        if variant == "reference":
            stage.write_json(Path("reports/task4/temperature.json"),
                             temperature_curve(val_predictions))
    chosen, reference = figures["chosen"], figures["reference"]
    bound = logit_size_bound(chosen["cross_entropy"])
    cooled = temperature_baseline(outputs["reference"], chosen["cross_entropy"])
    stage.write_json(REPORT, {
        "status": "completed",
        **chosen,
        **comparison(chosen, reference),
        "logit_size_bound": bound,
        "logit_size_vs_bound": chosen["mean_logit_size"] / bound if bound > 0 else None,
        "temperature_baseline": cooled,
        "logit_size_vs_temperature": (None if cooled is None else
                                      chosen["mean_logit_size"] / cooled["mean_logit_size"]),
        "reference": reference,
        "validation": {**validation, **comparison(validation["chosen"], validation["reference"])},
        "loss": runs["chosen"]["loss"],
        "train_samples": runs["chosen"]["train_images"], "epochs": settings.epochs,
        "archive": stage.archive_identity(),
        "provenance": numerics.provenance(device),
    })
    stage.write_json(METRICS, {
        "accuracy": chosen["accuracy"], "cross_entropy": chosen["cross_entropy"],
        "min_class_recall": min(per_class_recall(outputs["chosen"]).values()),
        "val_accuracy": validation["chosen"]["accuracy"], **comparison(chosen, reference)})
    for variant, values in figures.items():
        print(f"task4 {variant}: accuracy {values['accuracy']:.4f}, cross-entropy "
              f"{values['cross_entropy']:.4f}, mean logit size {values['mean_logit_size']:.4f}")


if __name__ == "__main__":
    stage.run(main)
