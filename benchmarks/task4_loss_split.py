"""Where task 4's evaluation cross-entropy comes from, for the committed chosen model and its
plain cross-entropy reference, on the test set and on the validation split: the share of the
mean loss carried by the samples each model gets wrong, and the mean loss of the ones it gets
right (a capped right sample pays at least ln(1 + 9 e^-m), a floor the reference does not have).

    python benchmarks/task4_loss_split.py      # after `dvc repro evaluate_task4`
"""

import math
from pathlib import Path

import torch
from torch import nn

from vvpipe import custody, models, runtime
from vvpipe.evaluation import predict
from vvpipe.models import ModelTask4
from vvpipe.recipe import held_out_batches, scoring_batches
from vvpipe.settings.task4 import Task4Settings


def loss_split(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """The mean cross-entropy over a set, split into its right and wrong samples' parts."""
    losses = nn.functional.cross_entropy(logits.double(), labels, reduction="none")
    wrong = logits.argmax(1) != labels
    return {"samples": len(labels), "mean_loss": losses.mean().item(), "wrong": int(wrong.sum()),
            "wrong_share_of_loss": (losses[wrong].sum() / losses.sum()).item(),
            "mean_loss_wrong": losses[wrong].mean().item() if wrong.any() else 0.0,
            "mean_loss_right": losses[~wrong].mean().item()}


def main() -> None:
    settings, device, sets = runtime.setup(Task4Settings, "task4", Path("engineered/task4.pt"))
    cap = settings.loss.target_margin
    test = custody.labelled_test_set("task1")
    print(f"target cap m = {cap}: a capped right sample costs at least ln(1 + 9 e^-m) = "
          f"{math.log1p(9 * math.exp(-cap)):.4f}")
    header = ("model", "split", "N", "mean CE", "wrong", "wrong's share", "CE wrong", "CE right")
    print("| " + " | ".join(header) + " |\n" + "|---" * len(header) + "|")
    for variant in ("reference", "chosen"):
        model = models.load_model(ModelTask4, Path("models/task4") / f"{variant}.pt", device)
        for split, batches in (("test", held_out_batches(test, settings, device)),
                               ("validation", scoring_batches(sets["val"], settings, device))):
            predictions = predict(model, batches)
            s = loss_split(predictions.outputs, predictions.labels)
            print(f"| {variant} | {split} | {s['samples']} | {s['mean_loss']:.4f} | {s['wrong']} | "
                  f"{s['wrong_share_of_loss']:.2f} | {s['mean_loss_wrong']:.2f} | "
                  f"{s['mean_loss_right']:.4f} |")


if __name__ == "__main__":
    main()
