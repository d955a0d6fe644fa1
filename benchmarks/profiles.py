"""The pipeline's task 1 and task 3 stages on every stand-in profile, each in a scratch copy of
the repository, with the same defaults; beside them the raw-set baseline (the fixed model and
original loader on the training set as the archive gives it).

Writes reports/profiles.json (one entry per profile, merged with the entries already there) and
prints a table. About 15 minutes a profile on 2 cores.

    python benchmarks/profiles.py                       # every profile
    python benchmarks/profiles.py --profiles clean photometric
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scratch import REPO, scratch_copy, sh  # noqa: E402
from vvpipe.standin import PROFILES  # noqa: E402

TASKS = ("task1", "task3")
RAW_BASELINE = """
import json, sys
import torch
from torch import nn
from vvpipe import stage
from vvpipe.config import TrainSettings
from vvpipe.data import loaders
from vvpipe.evaluation import classification_metrics, per_class_recall, predict
from vvpipe.models import TASK_MODELS
from vvpipe.training import Trainer

task = sys.argv[1]
settings, device, sets = stage.setup(TrainSettings, task, stage.Path("prepared") / f"{task}.pt")
model = TASK_MODELS[task]().to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)
train_batches, test_batches = loaders(sets["train"], stage.labelled_test_set(task), settings, device)
Trainer(model, optimizer, nn.CrossEntropyLoss(), progress=False).fit(
    train_batches, test_batches, settings.epochs)
predictions = predict(model, test_batches)
recall = per_class_recall(predictions)
print(json.dumps({"accuracy": classification_metrics(predictions)["accuracy"],
                  "min_class_recall": min(recall.values()), "train_images": len(sets["train"])}))
"""


def collect(repo: Path, timings: dict[str, float]) -> dict:
    """One profile's row from a repository whose task 1 and 3 stages have run: the engineered
    figures it wrote, and the raw-set baselines trained here."""
    entry: dict = {"timings_s": timings}
    for task in TASKS:
        start = time.perf_counter()
        raw = json.loads(sh(repo, sys.executable, "-c", RAW_BASELINE, task).splitlines()[-1])
        timings[f"raw baseline {task}"] = round(time.perf_counter() - start, 1)
        metrics = json.loads((repo / "metrics" / f"{task}.json").read_text())
        engineering = json.loads((repo / "reports" / task / "engineering.json").read_text())
        training = json.loads((repo / "reports" / task / "training.json").read_text())
        analysis = json.loads((repo / "reports" / task / "analysis.json").read_text())
        entry[task] = {
            "raw": raw,
            "engineered": {"accuracy": metrics["accuracy"],
                           "min_class_recall": metrics["min_class_recall"],
                           "val_accuracy": metrics["val_accuracy"],
                           "train_images": metrics["train_samples"],
                           "val_images": metrics["val_samples"],
                           "test_images": metrics["test_samples"]},
            "sizing": engineering["sizing"],
            "classes_cleaned": engineering["classes_cleaned"],
            "ks_sum": (engineering["test_matching"] or {}).get("ks_sum"),
            "test_prior_distance_from_uniform": analysis["test_prior"]["distance_from_uniform"],
            "balanced_to": engineering["sizing"]["balanced_to"],
            "order_attempts": len(training["attempts"]),
            "audit": json.loads((repo / "metrics" / f"audit_{task}.json").read_text()),
        }
    timings["total"] = round(sum(v for k, v in timings.items() if k != "total"), 1)
    entry["threads"] = int(os.environ.get("OMP_NUM_THREADS", 0)) or None
    return entry


def run_profile(name: str, keep: bool, root: Path | None = None) -> dict:
    """The profile's stand-in and stages in a scratch copy; ``root`` reuses the copy an earlier,
    interrupted call left (``--keep``), and `dvc repro` goes on from the stages it finished."""
    resume = root is not None and (root / "repo" / "dvc.lock").is_file()
    root = root or Path(tempfile.mkdtemp(prefix=f"vvpipe-{name}-"))
    try:
        timings: dict[str, float] = {}
        if resume:
            repo = root / "repo"
        else:
            repo = scratch_copy(root)
            start = time.perf_counter()
            sh(repo, sys.executable, "-m", "vvpipe.standin", "--profile", name)
            sh(repo, "git", "init", "-q")
            sh(repo, "dvc", "add", "-q", "data.tar.xz")
            sh(repo, "git", "add", "-A")
            sh(repo, "git", "commit", "-qm", f"stand-in profile {name}")
            timings["stand-in"] = round(time.perf_counter() - start, 1)
        for task in TASKS:
            start = time.perf_counter()
            sh(repo, "dvc", "repro", "-q", f"evaluate@{task}", f"audit@{task}")
            timings[f"pipeline {task}"] = round(time.perf_counter() - start, 1)
        entry = collect(repo, timings)
        entry["resumed"] = resume
        return entry
    finally:
        if keep:
            print(f"  kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def markdown_table(results: dict) -> str:
    """The README's table: one row per profile and task."""
    lines = ["| profile | task | training images: raw → engineered (SGD steps) | raw baseline "
             "| engineered: test | validation | lowest class recall (test) | minutes |",
             "|---|---|---|---|---|---|---|---|"]
    for name, entry in results.items():
        for task in TASKS:
            t = entry[task]
            seconds = entry["timings_s"].get(f"pipeline {task}")
            minutes = f"{seconds / 60:.1f}" if seconds else "—"
            lines.append(
                f"| `{name}` | {task[-1]} | {t['raw']['train_images']:,} → "
                f"{t['engineered']['train_images']:,} ({t['sizing']['total_steps']:,}) | "
                f"{t['raw']['accuracy']:.3f} | **{t['engineered']['accuracy']:.3f}** | "
                f"{t['engineered']['val_accuracy']:.3f} | {t['engineered']['min_class_recall']:.2f} "
                f"| {minutes} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=list(PROFILES))
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "profiles.json")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copies")
    parser.add_argument("--resume", type=Path, metavar="DIR",
                        help="go on in the scratch copy an interrupted --keep run left in DIR "
                             "(one profile)")
    parser.add_argument("--table", action="store_true",
                        help="only print the Markdown table of the results already written")
    parser.add_argument("--from-workspace", metavar="PROFILE", choices=list(PROFILES),
                        help="instead: take this profile's row from this repository, whose "
                             "`dvc repro` has run on that profile's stand-in")
    args = parser.parse_args()

    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if args.table:
        print(markdown_table(results))
        return
    runs = ({args.from_workspace: lambda: collect(REPO, {})} if args.from_workspace else
            {name: lambda name=name: run_profile(name, args.keep, args.resume)
             for name in args.profiles})
    for name, run in runs.items():
        print(f"profile {name} ...", file=sys.stderr, flush=True)
        entry = run()
        # Re-read before writing: other profiles may be running beside this one.
        results = json.loads(args.out.read_text()) if args.out.is_file() else {}
        results[name] = entry
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        for task in TASKS:
            t = results[name][task]
            print(f"{name:17s} {task}: raw {t['raw']['accuracy']:.4f} → engineered "
                  f"{t['engineered']['accuracy']:.4f} (val {t['engineered']['val_accuracy']:.4f}, "
                  f"lowest class recall {t['engineered']['min_class_recall']:.3f}); "
                  f"{t['raw']['train_images']} → {t['engineered']['train_images']} images",
                  flush=True)
        print(f"  {results[name]['timings_s']}", flush=True)


if __name__ == "__main__":
    main()
