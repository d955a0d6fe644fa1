"""Task 2's ablation from its DVC experiments: mean ± sd over seeds of each row, as
studies/task2_ablation.json, the plot's series in studies/task2_ablation/ (the "task2 ablation"
plot of dvc.yaml) and a Markdown table on stdout.

    python scripts/task2_ablation.py [REV ...]
    python scripts/task2_ablation.py --series   # the series again from studies/task2_ablation.json

Reads the experiments of HEAD and of the given commits (queued by scripts/task2_ablation.sh),
grouped by their task2 params with the seed aside. A row's cost is its epochs run: wall times
stay out of what an experiment commits (they are in each run's untracked logs/timing/).
"""

import json
import sys
from pathlib import Path

from vvpipe import stage
from vvpipe.experiments import Experiment, grouped_by_params, load_experiments, summarise

OUT = Path("studies")
MODELS = ("final", "best", "swa")
REPORT = "reports/task2/evaluation.json"  # each experiment's, as it committed it


def figure(model: str, key: str):
    def read(run: tuple[Experiment, dict]) -> float | None:
        return (run[1].get(model) or {}).get(key)
    return read


FIELDS = {
    **{f"{model}_{split}_accuracy": figure(model, key)
       for model in MODELS for split, key in (("val", "val_accuracy"), ("test", "accuracy"))},
    "epochs_run": lambda run: run[1]["training"]["epochs_run"],
}


def text(summary: dict | None, runs: int) -> str:
    if summary is None:
        return "—"
    shown = f"{summary['mean']:.3f} ± {summary['sd']:.3f}"
    return shown if summary["n"] == runs else f"{shown} ({summary['n']} of {runs})"


def write_series(rows: list[dict], folder: Path) -> None:
    """The ablation as DVC plot data, one file per model: each row's mean validation accuracy
    over seeds, with its sd and its test accuracy beside it for the tooltip."""
    folder.mkdir(parents=True, exist_ok=True)
    for model in MODELS:
        points = [{"row": row["row"], "val_accuracy": row[f"{model}_val_accuracy"]["mean"],
                   "val_accuracy_sd": row[f"{model}_val_accuracy"]["sd"],
                   "test_accuracy": row[f"{model}_test_accuracy"]["mean"]}
                  for row in rows if row[f"{model}_val_accuracy"]]
        stage.write_json(folder / f"{model}.json", points)


def main() -> None:
    if sys.argv[1:] == ["--series"]:
        write_series(json.loads((OUT / "task2_ablation.json").read_text())["rows"],
                     OUT / "task2_ablation")
        return
    # A row is a configuration of task 2, whatever DVC named its runs: the labels name the keys
    # that set it apart from most rows ("defaults" when none does).
    groups = grouped_by_params(load_experiments(*sys.argv[1:]), "task2")
    if not groups:
        sys.exit("error: no experiment has results: run `bash scripts/task2_ablation.sh` and "
                 "`bash scripts/run_queue.sh` first")
    rows = []
    for name, runs in groups.items():
        with_reports = [(experiment, experiment.file(REPORT)) for _, experiment in runs]
        stops = [report["training"]["stop_reason"] for _, report in with_reports]
        rows.append({"row": name, "seeds": [seed for seed, _ in runs],
                     **summarise(with_reports, FIELDS),
                     "stopped_early": sum(report["training"]["stopped_early"]
                                         for _, report in with_reports),
                     "stop_reasons": sorted(set(stops))})
    stage.write_json(OUT / "task2_ablation.json", {"rows": rows})
    write_series(rows, OUT / "task2_ablation")

    print("| row | seeds | val final | val best | val SWA | test final | test best | test SWA "
          "| epochs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        cells = [text(row[f"{m}_{s}_accuracy"], len(row["seeds"])) for s in ("val", "test")
                 for m in MODELS]
        print(f"| {row['row']} | {len(row['seeds'])} | " + " | ".join(cells) +
              f" | {row['epochs_run']['mean']:.1f} |")


if __name__ == "__main__":
    main()
