"""Does the fixed task 1 (or 3) setup lose a class, and does the class ever come back?

Trains the fixed recipe on the engineered set of a repository whose `dvc repro engineer@TASK`
has run, once per initial-weights seed, each run to its last epoch (dead runs are not stopped),
and records every class's validation recall and own-class probability after every epoch.
Writes studies/dead_class.json (merged by profile name and rescue setting) and prints one line
per seed. ``--rescue-max-weight 1`` trains without the rescue (the setup as the original runs
it); the default is the repository's params.

    python benchmarks/dead_class.py --repo /path/to/profile/copy --profile heavy-noise --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vvpipe import config, numerics  # noqa: E402
from vvpipe.class_health import ClassHealth  # noqa: E402
from vvpipe.data import balanced_sample, batches, load_image_sets  # noqa: E402
from vvpipe.recipe import fit_fixed  # noqa: E402
from vvpipe.settings.train import FIXED_TASK_SETTINGS  # noqa: E402
from vvpipe.runtime import select_device  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


class TrainingSampleHealth(ClassHealth):
    """The same watch on a sample of the training images (the trainer holds one of each kind)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--profile", required=True, help="the stand-in profile the repo holds")
    parser.add_argument("--task", default="task1", choices=("task1", "task3"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rescue-max-weight", type=float, default=None,
                        help="override the task's rescue_max_weight (1: no rescue)")
    parser.add_argument("--out", type=Path, default=REPO / "studies" / "dead_class.json")
    args = parser.parse_args()

    numerics.pin()
    settings = config.load(FIXED_TASK_SETTINGS[args.task], args.task, args.repo / "params.yaml")
    if args.rescue_max_weight is not None:
        settings = replace(settings, rescue_max_weight=args.rescue_max_weight)
        settings.validate(args.task)
    sets = load_image_sets(args.repo / "engineered" / f"{args.task}.pt")
    device = select_device(settings.device)
    # A fixed, class-balanced sample of the training set: is a dead class lost on the images
    # it trains on too (saturation), or only on held-out ones (generalisation)?
    sample_batches = batches(balanced_sample(sets["train"], 200, 0), 512, False, 0, device)
    rescue = f" rescue {settings.rescue_max_weight:g}" if settings.rescue_max_weight > 1 else ""
    runs = []
    for seed in args.seeds:
        on_train: list[ClassHealth] = []

        def watchers() -> list[ClassHealth]:
            on_train.append(TrainingSampleHealth(sample_batches, patience=settings.epochs + 1))
            return on_train[-1:]

        result = fit_fixed(args.task, replace(settings, seed=seed, order_attempts=1),
                           sets["train"], sets["val"], device, progress=False,
                           stop_dead_runs=False, watchers=watchers)
        record = result.attempts[0]
        health = record["class_health"]
        dead_from = {c: next((h["epoch"] for h in health
                              if all(later["recall"][c] == 0 for later in health[health.index(h):])),
                             None) for c in range(10)}
        runs.append({"seed": seed, "val_accuracy": record["val_accuracy"],
                     "rescued_epochs": record["rescued_epochs"],
                     "min_val_recall": record["min_val_recall"],
                     "val_recall_per_class": record["val_recall_per_class"],
                     "dead_from_epoch": {str(c): e for c, e in dead_from.items() if e is not None},
                     "seconds": result.timings[0]["seconds"], "class_health": health,
                     "class_health_on_training_sample": on_train[-1].history})
        print(f"{args.profile} {args.task}{rescue} seed {seed}: val {record['val_accuracy']:.4f}, lowest "
              f"class recall {record['min_val_recall']:.3f}, dead classes (from epoch) "
              f"{runs[-1]['dead_from_epoch'] or 'none'}, {runs[-1]['seconds']:.0f} s", flush=True)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results[f"{args.profile} {args.task}{rescue}"] = {
        "threads": int(os.environ.get("OMP_NUM_THREADS", 0)) or None,
        "train_images": len(sets["train"]), "val_images": len(sets["val"]), "runs": runs}
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
