"""Task 4's accuracy / logit-size trade-off across DVC experiments: a table and a Pareto plot.

    python scripts/task4_pareto.py [REV ...]

Reads every experiment of HEAD (and of the given commits, for experiments queued on an earlier
commit) that has ``metrics/task4.json`` (``dvc exp show``), and writes reports/task4/sweep.csv
and reports/task4/pareto.png. Each experiment contributes its chosen model, and each distinct
training setup its plain cross-entropy reference.
"""

import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from vvpipe.experiments import load_experiments, pareto_front  # noqa: E402

OUT = Path("reports/task4")


def loss_label(params: dict) -> str:
    loss = params["loss"]
    parts = [f"CE(×{loss['ce_scale']:g})" + (f"·{loss['ce_weight']:.3g}" if loss["ce_weight"] != 1
                                            else "")]
    parts += [f"{w:g}·{name}" for name, w in loss["weights"].items() if w]
    if loss["penalise"] != "all":
        parts.append(loss["penalise"])
    if loss["warmup_epochs"]:
        parts.append(f"warm-up {loss['warmup_epochs']}")
    if params["shuffle_train"]:
        parts.append("shuffled")
    return " + ".join(parts)


def main() -> None:
    rows, seen_references, seen_losses = [], set(), set()
    for experiment in load_experiments(*sys.argv[1:]):
        metrics = experiment.metrics.get("metrics/task4.json")
        if not metrics or "task4" not in experiment.params:
            continue
        params = experiment.params["task4"]
        label = loss_label(params)
        if label in seen_losses:  # experiments that changed other stages share task 4's result
            continue
        seen_losses.add(label)
        rows.append({"experiment": experiment.name, "model": "chosen", "loss": label,
                     "shuffle_train": params["shuffle_train"], **_figures(metrics)})
        reference_key = params["shuffle_train"]
        if reference_key not in seen_references:
            seen_references.add(reference_key)
            rows.append({"experiment": experiment.name, "model": "reference",
                         "loss": "CE" + (" + shuffled" if params["shuffle_train"] else ""),
                         "shuffle_train": params["shuffle_train"],
                         **_figures(metrics["reference"])})
    if not rows:
        raise SystemExit("no experiment has metrics/task4.json: run dvc repro or the sweep first")

    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "sweep.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["mean_logit_size"]))

    points = [(r["mean_logit_size"], r["accuracy"]) for r in rows]
    front = pareto_front(points)
    figure, axes = plt.subplots(figsize=(9, 6))
    for k, (row, (size, accuracy)) in enumerate(zip(rows, points)):
        reference = row["model"] == "reference"
        axes.scatter(size, accuracy, marker="s" if reference else "o",
                     color="black" if reference else ("tab:blue" if not row["shuffle_train"]
                                                      else "tab:orange"), zorder=3)
        # Alternate above and below, so that neighbours' labels do not overlap.
        axes.annotate(row["loss"], (size, accuracy), textcoords="offset points",
                      xytext=(6, 5 if k % 2 == 0 else -11), fontsize=7)
    axes.plot([points[i][0] for i in front], [points[i][1] for i in front], "--", color="grey",
              label="Pareto front", zorder=2)
    for row in rows:
        if row["model"] == "reference":
            # The target: a tenth of the reference's logit size, accuracy within one point.
            axes.fill_between([0, row["mean_logit_size"] / 10], row["accuracy"] - 0.01, 1.0,
                              alpha=0.12, color="tab:green")
    axes.set_xscale("log")
    axes.set_xlabel("mean |logit| on the test set (log scale)")
    axes.set_ylabel("test accuracy")
    axes.set_title("Task 4: accuracy against logit size (squares: plain cross-entropy; "
                   "green: target zone)", fontsize=9)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(OUT / "pareto.png", dpi=120)
    print(f"{len(rows)} models; Pareto front: " +
          ", ".join(f"{rows[i]['loss']} ({rows[i]['accuracy']:.3f}, {rows[i]['mean_logit_size']:.3f})"
                    for i in front))


def _figures(metrics: dict) -> dict:
    return {key: metrics[key] for key in ("accuracy", "cross_entropy", "mean_logit_size",
                                          "max_abs_logit", "logit_norm_p50", "logit_norm_p99")}


if __name__ == "__main__":
    main()
