"""Task 4's frontier from its DVC experiments: evaluation cross-entropy against mean |logit| on
the validation split, mean ± sd over seeds per row, beside the temperature baseline and the
analytic bound; the default the rule picks; studies/task4_frontier.json, the plot's series in
studies/task4_frontier/ (the "task4 frontier" plot of dvc.yaml: `dvc plots diff` overlays two
revisions) and a Markdown table on stdout.

    python scripts/task4_frontier.py [REV ...]
    python scripts/task4_frontier.py --series   # the series again from studies/task4_frontier.json

Reads the experiments of HEAD and of the given commits (queued by scripts/task4_sweep.sh),
grouped by their task4 params with the seed aside. Each experiment holds its chosen model and
the plain cross-entropy reference of its seed; a run whose training loss went non-finite is
listed as failed.
"""

import json
import statistics
import sys
from pathlib import Path

from vvpipe import stage
from vvpipe.experiments import grouped_by_params, load_experiments, summarise
from vvpipe.frontier import frontier_choice, logit_size_bound

OUT = Path("studies")
REPORT = "reports/task4/evaluation.json"  # each experiment's, as it committed it
RULE = {"max_cross_entropy_change": 0.05, "max_accuracy_drop": 0.005}


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


def loss_label(loss: dict) -> str:
    """A row's name: the loss keys it sets away from plain cross-entropy."""
    plain = {"ce_scale": 1.0, "ce_weight": 1.0, "warmup_epochs": 0}
    shown = [f"{key}={loss[key]:g}" for key in plain if loss[key] != plain[key]]
    shown += [f"{key}={value:g}" for key, value in loss["weights"].items() if value]
    if loss["penalise"] != "all" and any(loss["weights"][k] for k in ("l1", "l2")):
        shown.append(f"on {loss['penalise']}")
    return " ".join(shown) or "plain CE"


def collect() -> dict:
    rows, failed, references, curves = [], [], {}, {}
    # A row is one loss, whatever DVC named its runs: the task4 params with the seed aside.
    for _, runs in grouped_by_params(load_experiments(*sys.argv[1:]), "task4").items():
        config = loss_label(runs[0][1].params["task4"]["loss"])
        completed = []
        for seed, experiment in runs:
            metrics = experiment.file(REPORT)
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


def write_series(report: dict, folder: Path) -> None:
    """The frontier as DVC plot data, one file per series (x: mean |logit|, y: cross-entropy on
    the validation split): the loss family's rows (mean over seeds), the reference, the
    temperature baseline and the analytic bound over the rows' range of cross-entropy."""
    def point(row: dict) -> dict:
        return {"name": row["name"], "logit_size": row["val_logit_size"]["mean"],
                "cross_entropy": row["val_cross_entropy"]["mean"],
                "accuracy": row["val_accuracy"]["mean"]}

    chosen = (report.get("chosen") or {}).get("name")
    reference = point(report["reference"])
    losses = [{**point(row), "default": row["name"] == chosen} for row in report["rows"]]
    lowest = min(p["cross_entropy"] for p in [reference, *losses])
    bound = [{"name": "bound", "logit_size": logit_size_bound(lowest * (0.9 + 0.02 * k)),
              "cross_entropy": lowest * (0.9 + 0.02 * k)} for k in range(60)]
    temperature = [{"name": f"T={p['temperature']:.3g}", "logit_size": p["mean_logit_size"],
                    "cross_entropy": p["cross_entropy"]} for p in report["temperature_baseline"]]
    folder.mkdir(parents=True, exist_ok=True)
    for name, points in (("losses", losses), ("reference", [reference]),
                         ("temperature", temperature), ("bound", bound)):
        stage.write_json(folder / f"{name}.json", points)


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
    if sys.argv[1:] == ["--series"]:
        write_series(json.loads((OUT / "task4_frontier.json").read_text()), OUT / "task4_frontier")
        return
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
    write_series(report, OUT / "task4_frontier")
    print(table(report))
    print(f"\ndefault by the rule: {report['chosen']}")
    for failure in report["failed"]:
        print(f"failed: {failure['row']} seed {failure['seed']}: {failure['status']}")


if __name__ == "__main__":
    main()
