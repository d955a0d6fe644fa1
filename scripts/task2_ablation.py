"""Task 2's ablation from its DVC experiments: mean ± sd over seeds of each row, as
studies/task2_ablation.json, studies/task2_ablation.png and a Markdown table on stdout.

    python scripts/task2_ablation.py [REV ...]

Reads the experiments named ``t2-<row>-s<seed>`` (queued by scripts/task2_ablation.sh) of HEAD
and of the given commits. Wall times come from each experiment's reports/task2/training.json:
runs of one torch thread, two side by side on two cores.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from vvpipe import stage  # noqa: E402
from vvpipe.experiments import Experiment, load_experiments, seeded_groups, summarise  # noqa: E402

OUT = Path("studies")
MODELS = ("final", "best", "swa")


def figure(model: str, key: str):
    def read(run: tuple[Experiment, dict]) -> float | None:
        return (run[0].metrics["metrics/task2.json"].get(model) or {}).get(key)
    return read


FIELDS = {
    **{f"{model}_{split}_accuracy": figure(model, key)
       for model in MODELS for split, key in (("val", "val_accuracy"), ("test", "accuracy"))},
    "epochs_run": lambda run: run[0].metrics["metrics/task2.json"]["epochs_run"],
    "wall_seconds": lambda run: run[1]["wall_seconds"],
}


FEATURE_ROWS = ("checkpoints", "early-stopping", "plateau", "cosine", "step", "onecycle", "swa",
                "swa-long", "all")


def row_order(name: str) -> tuple:
    """Learning-rate rows by rate, then the features as the script queues them, then the rest."""
    if name.startswith("lr"):
        return (0, float(name[2:]), name)
    return (1, FEATURE_ROWS.index(name), name) if name in FEATURE_ROWS else (2, 0.0, name)


def text(summary: dict | None, runs: int) -> str:
    if summary is None:
        return "—"
    shown = f"{summary['mean']:.3f} ± {summary['sd']:.3f}"
    return shown if summary["n"] == runs else f"{shown} ({summary['n']} of {runs})"


def plot(rows: list[dict], path: Path) -> None:
    """Mean ± sd per row; each panel zooms on the rows within 0.05 of its best, and a row
    further down (the original learning rate) is drawn at the left edge with its value."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(rows) + 1.5), sharey=True)
    for ax, split in zip(axes, ("val", "test")):
        means = [row[f"{m}_{split}_accuracy"]["mean"] for row in rows for m in MODELS
                 if row[f"{m}_{split}_accuracy"]]
        low, high = max(means) - 0.05, max(means) + 0.005
        for k, (model, marker) in enumerate(zip(MODELS, "os^")):
            for i, row in enumerate(rows):
                summary, y = row[f"{model}_{split}_accuracy"], i + (k - 1) * 0.2
                if summary is None:
                    continue
                if summary["mean"] < low:
                    ax.plot(low, y, "<", color=f"C{k}")
                    ax.annotate(f"{summary['mean']:.3f}", (low, y), xytext=(8, -3),
                                textcoords="offset points", fontsize=8, color=f"C{k}")
                    continue
                ax.errorbar(summary["mean"], y, xerr=summary["sd"], fmt=marker, capsize=3,
                            color=f"C{k}", label=model)
        ax.set_xlim(low - 0.002, high)
        ax.set_title(f"{'validation' if split == 'val' else 'test'} accuracy (mean ± sd)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(rows)), [row["row"] for row in rows])
    axes[0].invert_yaxis()
    handles, labels = axes[1].get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    axes[1].legend(unique.values(), unique.keys(), loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    groups = seeded_groups(load_experiments(*sys.argv[1:]), "t2-")
    if not groups:
        sys.exit("error: no experiment named t2-<row>-s<seed> has results: run "
                 "`bash scripts/task2_ablation.sh` and `bash scripts/run_queue.sh` first")
    rows = []
    for name, runs in sorted(groups.items(), key=lambda group: row_order(group[0])):
        with_reports = [(experiment, experiment.file("reports/task2/training.json"))
                        for _, experiment in runs]
        stops = [report["stop_reason"] for _, report in with_reports]
        rows.append({"row": name, "seeds": [seed for seed, _ in runs],
                     **summarise(with_reports, FIELDS),
                     "stopped_early": sum(report["stopped_early"] for _, report in with_reports),
                     "stop_reasons": sorted(set(stops))})
    stage.write_json(OUT / "task2_ablation.json", {
        "rows": rows,
        "wall_seconds_total": sum(row["wall_seconds"]["mean"] * len(row["seeds"]) for row in rows),
        "note": "wall seconds: one torch thread per run, two runs side by side on two cores",
    })
    plot(rows, OUT / "task2_ablation.png")

    print("| row | seeds | val final | val best | val SWA | test final | test best | test SWA "
          "| epochs | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        cells = [text(row[f"{m}_{s}_accuracy"], len(row["seeds"])) for s in ("val", "test")
                 for m in MODELS]
        print(f"| {row['row']} | {len(row['seeds'])} | " + " | ".join(cells) +
              f" | {row['epochs_run']['mean']:.1f} | {row['wall_seconds']['mean']:.0f} |")


if __name__ == "__main__":
    main()
