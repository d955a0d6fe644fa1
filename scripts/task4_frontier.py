"""Task 4's frontier from its DVC experiments: evaluation cross-entropy against mean |logit| on
the validation split, mean ± sd over seeds per row, beside the temperature baseline and the
analytic bound; the default the rule picks; studies/task4_frontier.json and .png, and a
Markdown table on stdout.

    python scripts/task4_frontier.py [REV ...]

Reads the experiments named ``t4-<row>-s<seed>`` (queued by scripts/task4_sweep.sh) of HEAD and
of the given commits. Each experiment holds its chosen model and the plain cross-entropy
reference of its seed; a run whose training loss went non-finite is listed as failed.
"""

import math
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter  # noqa: E402

from vvpipe import stage  # noqa: E402
from vvpipe.experiments import load_experiments, seeded_groups, summarise  # noqa: E402
from vvpipe.frontier import frontier_choice, logit_size_bound  # noqa: E402

OUT = Path("studies")
METRICS = "metrics/task4.json"
RULE = {"max_cross_entropy_change": 0.05, "max_accuracy_drop": 0.005}
SIZE_TICKS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0)
LOSS_TICKS = (0.14, 0.16, 0.18, 0.2, 0.25, 0.3, 0.5, 1.0, 2.0)


def read(*keys: str):
    def value(metrics: dict) -> float | None:
        for key in keys:
            metrics = metrics.get(key) if isinstance(metrics, dict) else None
        return metrics
    return value


FIELDS = {
    "val_cross_entropy": read("validation", "chosen", "cross_entropy"),
    "val_accuracy": read("validation", "chosen", "accuracy"),
    "val_logit_size": read("validation", "chosen", "mean_logit_size"),
    "cross_entropy_change": read("validation", "cross_entropy_change"),
    "accuracy_change": read("validation", "accuracy_change"),
    "logit_size_ratio": read("validation", "logit_size_ratio"),
    "test_cross_entropy": read("cross_entropy"),
    "test_accuracy": read("accuracy"),
    "test_logit_size": read("mean_logit_size"),
    "test_cross_entropy_change": read("cross_entropy_change"),
    "test_accuracy_change": read("accuracy_change"),
    "test_logit_size_ratio": read("logit_size_ratio"),
    "test_logit_size_vs_temperature": read("logit_size_vs_temperature"),
    "test_logit_size_vs_bound": read("logit_size_vs_bound"),
}
REFERENCE_FIELDS = {
    "val_cross_entropy": read("validation", "reference", "cross_entropy"),
    "val_accuracy": read("validation", "reference", "accuracy"),
    "val_logit_size": read("validation", "reference", "mean_logit_size"),
    "test_cross_entropy": read("reference", "cross_entropy"),
    "test_accuracy": read("reference", "accuracy"),
    "test_logit_size": read("reference", "mean_logit_size"),
}


def collect(prefix: str = "t4-") -> dict:
    rows, failed, references, curves = [], [], {}, {}
    for config, runs in seeded_groups(load_experiments(*sys.argv[1:]), prefix).items():
        completed = []
        for seed, experiment in runs:
            metrics = experiment.metrics[METRICS]
            if metrics.get("status") != "completed":
                failed.append({"row": config, "seed": seed, "loss": metrics.get("loss"),
                               "status": metrics.get("status")})
                continue
            completed.append(metrics)
            if seed not in references:
                references[seed] = metrics
                curves[seed] = experiment.file("reports/task4/temperature.json")
        if completed:
            rows.append({"name": config, "seeds": len(completed), "loss": completed[0]["loss"],
                         **summarise(completed, FIELDS)})
    reference = {"name": "reference (plain CE)", "seeds": len(references),
                 **summarise(list(references.values()), REFERENCE_FIELDS)}
    # The temperature baseline, averaged over the seeds' references at each temperature.
    temperature = [{key: statistics.fmean(curve[k][key] for curve in curves.values())
                    for key in ("temperature", "cross_entropy", "mean_logit_size")}
                   for k in range(len(next(iter(curves.values()))))] if curves else []
    return {"rows": rows, "reference": reference, "temperature_baseline": temperature,
            "failed": failed}


def means(row: dict) -> dict:
    """A row's mean over seeds of each summarised field (a summary is a dict with a mean)."""
    return {key: value["mean"] if isinstance(value, dict) and "mean" in value else value
            for key, value in row.items()}


def plot(report: dict, path: Path) -> None:
    rows, reference = report["rows"], report["reference"]
    chosen = (report.get("chosen") or {}).get("name")
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 6.5))
    ref_ce, ref_size = reference["val_cross_entropy"]["mean"], reference["val_logit_size"]["mean"]
    ref_acc = reference["val_accuracy"]["mean"]
    curve = report["temperature_baseline"]
    left.plot([p["mean_logit_size"] for p in curve], [p["cross_entropy"] for p in curve], ".-",
              color="tab:orange", label="temperature baseline: reference's logits / T, "
                                        "T = 1.25^k (mean over seeds)")
    ces = [ref_ce * (0.8 + 0.02 * k) for k in range(80)]
    left.plot([logit_size_bound(c) for c in ces], ces, "--", color="grey",
              label="analytic bound: no model is left of it")
    left.axhline(ref_ce * (1 + RULE["max_cross_entropy_change"]), color="tab:green", lw=0.8,
                 label="reference's cross-entropy + 5 %")
    for axes, key, ref_value in ((left, "val_cross_entropy", ref_ce),
                                 (right, "val_accuracy", ref_acc)):
        axes.errorbar([ref_size], [ref_value], xerr=[reference["val_logit_size"]["sd"]],
                      yerr=[reference[key]["sd"]], fmt="s", color="black",
                      label="reference (plain CE)", zorder=4)
        for k, row in enumerate(rows):
            highlight = row["name"] == chosen
            axes.errorbar([row["val_logit_size"]["mean"]], [row[key]["mean"]],
                          xerr=[row["val_logit_size"]["sd"]], yerr=[row[key]["sd"]],
                          fmt="*" if highlight else "o", ms=12 if highlight else 5,
                          color="tab:red" if highlight else "tab:blue", zorder=5)
            axes.annotate(row["name"], (row["val_logit_size"]["mean"], row[key]["mean"]),
                          textcoords="offset points", xytext=(5, 4 if k % 2 else -10), fontsize=7)
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(FixedLocator(SIZE_TICKS))
        axes.xaxis.set_major_formatter(ScalarFormatter())
        axes.xaxis.set_minor_locator(NullLocator())
        axes.set_xlabel("mean |logit| on the validation split (log scale)")
    right.axhline(ref_acc - RULE["max_accuracy_drop"], color="tab:green", lw=0.8,
                  label="reference's accuracy − 0.5 points")
    visible = [row["val_cross_entropy"]["mean"] for row in rows] + [ref_ce]
    left.set_ylim(min(visible) * 0.9, min(max(visible) * 1.1, math.log(10)))
    # Log scale: the temperature option sits at ten times the others' loss.
    left.set_yscale("log")
    left.yaxis.set_major_locator(FixedLocator(LOSS_TICKS))
    left.yaxis.set_major_formatter(ScalarFormatter())
    left.yaxis.set_minor_locator(NullLocator())
    left.set_ylabel("plain cross-entropy on the validation split (log scale)")
    right.set_ylabel("accuracy on the validation split")
    left.set_title("Task 4: evaluation loss against logit size (mean ± sd over seeds; "
                   "red star: the default)", fontsize=9)
    right.set_title("accuracy of the same models", fontsize=9)
    left.legend(fontsize=7, loc="upper right")
    right.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def table(report: dict) -> str:
    def cell(summary: dict | None, digits: int = 3) -> str:
        if summary is None:
            return "—"
        shown = f"{summary['mean']:.{digits}f} ± {summary['sd']:.{digits}f}"
        # A figure only some seeds have (a temperature that reaches the model's loss).
        return shown if summary["n"] == seeds else f"{shown} ({summary['n']} of {seeds})"

    lines = ["| row | seeds | val CE | val CE change | val accuracy change | val mean \\|z\\| | "
             "val size ratio | test CE change | test accuracy change | test size ratio | "
             "test size / temperature |", "|---" * 11 + "|"]
    reference = report["reference"]
    seeds = reference["seeds"]
    lines.append(f"| reference (plain CE) | {reference['seeds']} | "
                 f"{cell(reference['val_cross_entropy'], 4)} | — | — | "
                 f"{cell(reference['val_logit_size'])} | 1 | — | — | 1 | — |")
    for row in sorted(report["rows"], key=lambda r: r["logit_size_ratio"]["mean"]):
        mark = " **(default)**" if row["name"] == (report.get("chosen") or {}).get("name") else ""
        lines.append(
            f"| {row['name']}{mark} | {row['seeds']} | {cell(row['val_cross_entropy'], 4)} | "
            f"{cell(row['cross_entropy_change'])} | {cell(row['accuracy_change'])} | "
            f"{cell(row['val_logit_size'])} | {cell(row['logit_size_ratio'])} | "
            f"{cell(row['test_cross_entropy_change'])} | {cell(row['test_accuracy_change'])} | "
            f"{cell(row['test_logit_size_ratio'])} | {cell(row['test_logit_size_vs_temperature'])} |")
    return "\n".join(lines)


def main() -> None:
    report = collect()
    if not report["rows"]:
        raise SystemExit("no t4-* experiment has results: run scripts/task4_sweep.sh and the queue")
    # The rule reads the validation figures only; the test columns are reported, never used.
    eligible = [row for row in report["rows"] if row["seeds"] == report["reference"]["seeds"]]
    chosen = frontier_choice([{"name": row["name"], **means(row)} for row in eligible], **RULE)
    report["rule"] = {**RULE, "text": "smallest mean validation logit-size ratio among the rows "
                      "run with every seed whose mean validation cross-entropy change is at most "
                      "+5 % and mean validation accuracy change at least -0.5 points"}
    report["chosen"] = None if chosen is None else {
        "name": chosen["name"], "loss": next(r["loss"] for r in eligible
                                             if r["name"] == chosen["name"])}
    OUT.mkdir(parents=True, exist_ok=True)
    stage.write_json(OUT / "task4_frontier.json", report)
    plot(report, OUT / "task4_frontier.png")
    print(table(report))
    print(f"\ndefault by the rule: {report['chosen']}")
    for failure in report["failed"]:
        print(f"failed: {failure['row']} seed {failure['seed']}: {failure['status']}")


if __name__ == "__main__":
    main()
