"""One task's engineering ablation from its DVC experiments (queued by scripts/ablation.sh): each
configuration of params.yaml:engineer.<task>, mean ± sd over its seeds, on the validation split,
on the split's test-matched copy (where engineer made one) and on test, as a Markdown table on
stdout and studies/<task>_engineering_ablation.json.

    python scripts/engineering_ablation.py task3 [REV ...]

Reads the experiments of HEAD (and of the given commits) that change nothing outside
engineer.<task>, so that another task's rows are not counted as this task's defaults.
"""

import copy
import sys
from pathlib import Path

from vvpipe import stage
from vvpipe.experiments import grouped_by_params, load_experiments, summarise, varied_keys

OUT = Path("studies")


def outside(params: dict, task: str) -> dict:
    """The params an experiment holds outside ``engineer.<task>``."""
    rest = copy.deepcopy(params)
    rest.get("engineer", {}).pop(task, None)
    return rest


def evaluation(key: str):
    return lambda run: run[1].get(key)


# Each row's figures, read from (experiment, its evaluation report, its engineering report).
FIELDS = {"train_images": lambda run: run[2]["train_images_after"],
          "val_accuracy": evaluation("val_accuracy"),
          "val_matched_accuracy": evaluation("val_matched_accuracy"),
          "val_matched_min_class_recall": evaluation("val_matched_min_class_recall"),
          "test_accuracy": evaluation("accuracy"),
          "test_min_class_recall": evaluation("min_class_recall")}


def cell(summary: dict | None, digits: int = 3) -> str:
    if summary is None:
        return "—"
    if summary["n"] == 1:
        return f"{summary['mean']:.{digits}f}"
    return f"{summary['mean']:.{digits}f} ± {summary['sd']:.{digits}f}"


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("task1", "task3"):
        sys.exit("usage: python scripts/engineering_ablation.py task1|task3 [REV ...]")
    task, revisions = sys.argv[1], sys.argv[2:]
    experiments = load_experiments(*revisions)
    if not experiments:
        sys.exit("error: no experiment has results: run `make ablation` first")
    reference = outside(experiments[0].params, task)
    ours = [e for e in experiments if outside(e.params, task) == reference]
    section = f"engineer.{task}"
    rows = []
    for label, runs in grouped_by_params(ours, section, varied=varied_keys(ours, section)).items():
        reports = [(experiment, experiment.file(f"reports/{task}/evaluation.json"),
                    experiment.file(f"reports/{task}/engineering.json"))
                   for _, experiment in runs]
        rows.append({"row": label, "seeds": [seed for seed, _ in runs],
                     "experiments": [experiment.name for _, experiment in runs],
                     **summarise(reports, FIELDS)})
    stage.write_json(OUT / f"{task}_engineering_ablation.json", {"task": task, "rows": rows})

    print("| changed | seeds | training images | validation | test-matched validation "
          "(lowest class) | test (lowest class) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['row']} | {len(row['seeds'])} | {cell(row['train_images'], 0)} | "
              f"{cell(row['val_accuracy'])} | {cell(row['val_matched_accuracy'])} "
              f"({cell(row['val_matched_min_class_recall'], 2)}) | {cell(row['test_accuracy'])} "
              f"({cell(row['test_min_class_recall'], 2)}) |")


if __name__ == "__main__":
    main()
