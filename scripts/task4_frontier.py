"""Task 4's frontier from its DVC experiments: evaluation cross-entropy against mean |logit| on
the validation split, mean ± sd over seeds per row, beside the temperature baseline and the
analytic bound; the default the rule picks; studies/task4_frontier.json, the plot's series in
studies/task4_frontier/ (the "task4 frontier" plot of dvc.yaml: `dvc plots diff` overlays two
revisions) and a Markdown table on stdout.

    python scripts/task4_frontier.py [REV ...] [--study NAME] [--profile NAME]
    python scripts/task4_frontier.py --series   # the series again from studies/task4_frontier.json
    python scripts/task4_frontier.py --choose studies/A.json studies/B.json   # across profiles

``--study`` names the output (studies/NAME.json and studies/NAME/; default task4_frontier), so
a sweep of new rows, or one on another stand-in profile (run in a copy of the repository built
on that profile), does not overwrite an earlier one. ``--choose`` applies the rule to the losses
run on every given study's profile, each judged by its worst profile (studies/task4_choice.json);
studies of one profile (a bracket of a new member beside an earlier one) are read as one.

Reads the experiments of HEAD and of the given commits (queued by scripts/task4_sweep.sh),
grouped by their task4 params with the seed aside. Each experiment holds its chosen model and
the plain cross-entropy reference of its seed; a run whose training loss went non-finite is
listed as failed.
"""

import argparse
import json
import statistics
from pathlib import Path

from vvpipe import stage
from vvpipe.experiments import grouped_by_params, load_experiments, summarise
from vvpipe.frontier import frontier_choice, logit_size_bound, worst_over_profiles

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
    plain = {"ce_scale": 1.0, "ce_weight": 1.0, "warmup_epochs": 0, "target_margin": 0.0}
    shown = [f"{key}={loss.get(key, plain[key]):g}" for key in plain
             if loss.get(key, plain[key]) != plain[key]]
    shown += [f"{key}={value:g}" for key, value in loss["weights"].items() if value]
    if loss["penalise"] != "all" and any(loss["weights"][k] for k in ("l1", "l2")):
        shown.append(f"on {loss['penalise']}")
    return " ".join(shown) or "plain CE"


def collect(revisions: list[str]) -> dict:
    rows, failed, references, curves = [], [], {}, {}
    # A row is one loss, whatever DVC named its runs: the task4 params with the seed aside.
    # Experiments only: a commit's own results come from `make run` (two threads), the queue's
    # from one thread each, and a profile copy's baseline holds no task 4 run at all.
    experiments = [e for e in load_experiments(*revisions) if not e.baseline]
    for _, runs in grouped_by_params(experiments, "task4").items():
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


def complete_rows(report: dict) -> list[dict]:
    """The rows run with every seed the reference has: the only ones the rule may choose."""
    return [row for row in report["rows"] if row["seeds"] == report["reference"]["seeds"]]


def choose_across(studies: list[Path]) -> None:
    """The rule over several profiles' studies: each loss judged by its worst profile."""
    reports = {path.stem: json.loads(path.read_text()) for path in studies}
    rows_by_profile: dict[str, dict[str, dict]] = {}
    references: dict[str, tuple[str, dict]] = {}
    for name, report in reports.items():
        # Studies of one profile share its references (the same seeds, data and code give the
        # same reference runs), so their rows are one frontier; other references are an error.
        profile = report.get("profile") or name
        first = references.setdefault(profile, (name, report["reference"]))
        if first[1] != report["reference"]:
            raise SystemExit(f"error: {name} and {first[0]} are both on profile {profile} but "
                             "their references differ (other code or seeds): choose across "
                             "studies of one run of each profile")
        for row in complete_rows(report):
            rows_by_profile.setdefault(profile, {}).setdefault(
                row["name"], {"name": row["name"], **means(row)})
    profiles = {profile: list(rows.values()) for profile, rows in rows_by_profile.items()}
    worst = worst_over_profiles(profiles)
    chosen = frontier_choice(worst, **RULE)
    report = {"studies": {name: str(path) for name, path in zip(reports, studies)},
              "profiles": {name: report.get("profile") or name for name, report in reports.items()},
              "rule": {**RULE, "text": "of the losses run with every seed on every profile, the "
                       "one with the smallest worst-profile mean validation logit-size ratio "
                       "whose worst-profile mean validation cross-entropy change is at most +5 % "
                       "and accuracy change at least -0.5 points"},
              "worst": worst, "chosen": chosen,
              "per_profile": {name: {row["name"]: row for row in rows}
                              for name, rows in profiles.items()}}
    stage.write_json(OUT / "task4_choice.json", report)
    print("| loss | " + " | ".join(f"{name}: val CE change / size ratio" for name in profiles)
          + " | worst: val CE change / accuracy change / size ratio |")
    print("|---" * (len(profiles) + 2) + "|")
    for row in sorted(worst, key=lambda r: r["logit_size_ratio"]):
        of = [report["per_profile"][name][row["name"]] for name in profiles]
        cells = [f"{one['cross_entropy_change']:+.3f} / {one['logit_size_ratio']:.3f}"
                 for one in of]
        mark = " **(chosen)**" if chosen and row["name"] == chosen["name"] else ""
        print(f"| {row['name']}{mark} | " + " | ".join(cells) +
              f" | {row['cross_entropy_change']:+.3f} / {row['accuracy_change']:+.3f} / "
              f"{row['logit_size_ratio']:.3f} |")
    print(f"\ndefault by the rule: {chosen and chosen['name']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs="*", metavar="REV",
                        help="commits whose experiments to read besides HEAD's")
    parser.add_argument("--study", default="task4_frontier",
                        help="output name: studies/STUDY.json and studies/STUDY/")
    parser.add_argument("--profile", default="default",
                        help="the stand-in profile the experiments ran on (recorded)")
    parser.add_argument("--series", action="store_true",
                        help="only write the plot series again from studies/STUDY.json")
    parser.add_argument("--choose", nargs="+", type=Path, metavar="STUDY_JSON",
                        help="instead: the rule across these studies' profiles")
    args = parser.parse_args()
    if args.choose:
        choose_across(args.choose)
        return
    if args.series:
        write_series(json.loads((OUT / f"{args.study}.json").read_text()), OUT / args.study)
        return
    report = {"profile": args.profile, **collect(args.revisions)}
    if not report["rows"]:
        raise SystemExit("no task 4 experiment has results: run scripts/task4_sweep.sh and the "
                         "queue")
    # The rule reads the validation figures only; the test columns are reported, never used.
    eligible = complete_rows(report)
    chosen = frontier_choice([{"name": row["name"], **means(row)} for row in eligible], **RULE)
    report["rule"] = {**RULE, "text": "smallest mean validation logit-size ratio among the rows "
                      "run with every seed whose mean validation cross-entropy change is at most "
                      "+5 % and mean validation accuracy change at least -0.5 points"}
    report["chosen"] = None if chosen is None else {
        "name": chosen["name"], "loss": next(r["loss"] for r in eligible
                                             if r["name"] == chosen["name"])}
    OUT.mkdir(parents=True, exist_ok=True)
    stage.write_json(OUT / f"{args.study}.json", report)
    write_series(report, OUT / args.study)
    print(table(report))
    print(f"\ndefault by the rule: {report['chosen']}")
    for failure in report["failed"]:
        print(f"failed: {failure['row']} seed {failure['seed']}: {failure['status']}")


if __name__ == "__main__":
    main()
