"""evaluate_task4: plain cross-entropy, accuracy and logit size of the model trained with the
chosen loss, and the same figures of the plain cross-entropy reference under ``reference``."""

import math
from pathlib import Path

from vvpipe import numerics, stage
from vvpipe.data import loaders
from vvpipe.evaluation import evaluate, logit_size_metrics
from vvpipe.frontier import logit_size_bound, temperature_for
from vvpipe.losses import Task4Settings
from vvpipe.models import ModelTask4


def main() -> None:
    settings, device, sets = stage.setup(Task4Settings, "task4", Path("engineered/task1.pt"))
    test = stage.labelled_test_set("task1")

    figures, outputs = {}, {}
    for variant in ("chosen", "reference"):
        # Fresh loaders per model: both are measured on the same test batches.
        _, test_batches = loaders(sets["train"], test, settings, device)
        model = stage.load_model(ModelTask4, Path("models/task4") / f"{variant}.pt", device)
        metrics, predictions = evaluate(model, test_batches)
        figures[variant] = {**metrics, **logit_size_metrics(predictions)}
        outputs[variant] = predictions
        if variant == "chosen":
            stage.write_confusion(Path("reports/task4/confusion.csv"), predictions)
    chosen, reference = figures["chosen"], figures["reference"]
    bound = logit_size_bound(chosen["cross_entropy"])
    # The reference's logits divided by the T that gives them the chosen model's cross-entropy:
    # what a temperature after training reaches at the same evaluation loss.
    temperature = temperature_for(outputs["reference"].outputs.double(),
                                  outputs["reference"].labels, chosen["cross_entropy"])
    # At or above uniform guessing only T = inf (every logit 0) matches: nothing to compare with.
    cooled = (reference["mean_logit_size"] / temperature
              if temperature is not None and math.isfinite(temperature) else None)
    stage.write_json(Path("metrics/task4.json"), {
        **chosen,
        "logit_size_ratio": chosen["mean_logit_size"] / reference["mean_logit_size"],
        "accuracy_change": chosen["accuracy"] - reference["accuracy"],
        "cross_entropy_change": chosen["cross_entropy"] / reference["cross_entropy"] - 1,
        "logit_size_bound": bound,
        "logit_size_vs_bound": chosen["mean_logit_size"] / bound if bound > 0 else None,
        "temperature_baseline": None if cooled is None else {"temperature": temperature,
                                                            "mean_logit_size": cooled},
        "logit_size_vs_temperature": None if cooled is None else chosen["mean_logit_size"] / cooled,
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
