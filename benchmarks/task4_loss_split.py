"""Where task 4's evaluation cross-entropy comes from, for the committed chosen model and its
plain cross-entropy reference, on the test set and on the validation split: the share of the
mean loss carried by the samples each model gets wrong, the mean loss of the ones it gets
right, and how many of those sit at the target cap (where ln(1 + 9 e^-m) is a floor that no
training of the capped loss goes below).

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


def loss_split(logits: torch.Tensor, labels: torch.Tensor, margin: float) -> dict[str, float]:
    """The mean cross-entropy over a set, split into its right and wrong samples' parts."""
    losses = nn.functional.cross_entropy(logits.double(), labels, reduction="none")
    right = logits.argmax(1) == labels
    target = logits.gather(1, labels[:, None])[:, 0]
    others = logits.masked_fill(nn.functional.one_hot(labels, logits.shape[1]).bool(), -math.inf)
    top_margin = target - others.max(1).values
    return {"samples": len(labels), "mean_loss": losses.mean().item(),
            "wrong": int((~right).sum()),
            "wrong_share_of_loss": (losses[~right].sum() / losses.sum()).item(),
            "mean_loss_wrong": losses[~right].mean().item() if (~right).any() else 0.0,
            "mean_loss_right": losses[right].mean().item(),
            "right_at_cap": (right & (target >= margin - 0.25)).float().mean().item(),
            "median_margin_right": top_margin[right].median().item()}


def main() -> None:
    settings, device, sets = runtime.setup(Task4Settings, "task4", Path("engineered/task4.pt"))
    cap = settings.loss.target_margin
    test = custody.labelled_test_set("task1")
    print(f"target cap m = {cap}: a capped right sample costs at least ln(1 + 9 e^-m) = "
          f"{math.log1p(9 * math.exp(-cap)):.4f}")
    header = ("model", "split", "N", "mean CE", "wrong", "wrong's share", "CE wrong", "CE right",
              "right at cap", "median margin")
    print("| " + " | ".join(header) + " |\n" + "|---" * len(header) + "|")
    for variant in ("reference", "chosen"):
        model = models.load_model(ModelTask4, Path("models/task4") / f"{variant}.pt", device)
        for split, batches in (("test", held_out_batches(test, settings, device)),
                               ("validation", scoring_batches(sets["val"], settings, device))):
            predictions = predict(model, batches)
            s = loss_split(predictions.outputs, predictions.labels, cap)
            print(f"| {variant} | {split} | {s['samples']} | {s['mean_loss']:.4f} | {s['wrong']} | "
                  f"{s['wrong_share_of_loss']:.2f} | {s['mean_loss_wrong']:.2f} | "
                  f"{s['mean_loss_right']:.4f} | {s['right_at_cap']:.2f} | "
                  f"{s['median_margin_right']:.2f} |")


if __name__ == "__main__":
    main()
