"""How long the analysis and the engineering of each task take, per part, against the budget of
3 minutes per task on 2 cores. Needs a pipeline run first (prepared sets and the inventory).

    python benchmarks/analysis_time.py
"""

import time
from pathlib import Path

import torch

from vvpipe import analysis, stage
from vvpipe.config import load
from vvpipe.settings.data import AnalysisSettings
from vvpipe.settings.data import ENGINEER_SETTINGS
from vvpipe.settings.train import FIXED_TASK_SETTINGS
from vvpipe.data import load_image_sets
from vvpipe.layout import TASKS
from vvpipe.engineering import Schedule, engineer
from vvpipe.runtime import select_device

BUDGET_S = 180.0


def timed(label: str, times: dict, function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    times[label] = time.perf_counter() - start
    return result


def main() -> None:
    settings = load(AnalysisSettings, "analyze")
    device = select_device(settings.device)
    inventory = stage.read_json(Path("reports/inventory.json"))
    print(f"{torch.get_num_threads()} torch threads, device {device}")
    for task in TASKS:
        times: dict[str, float] = {}
        sets = timed("load prepared set", times, load_image_sets, Path("prepared") / f"{task}.pt")
        train, test = sets["train"], sets["test"]
        images, labels = train.images[:, 0].numpy(), train.labels.numpy()
        timed("image checks (no model)", times, analysis.check_images, images, settings.outlier_mad)
        result = timed("whole analysis", times, analysis.analyse, images, labels, train.files,
                       test.images[:, 0].numpy(), inventory, task, settings, device, False)
        fixed = load(FIXED_TASK_SETTINGS[task], task)
        timed("engineering", times, engineer, train, result.findings, result.summary,
              load(ENGINEER_SETTINGS[task], f"engineer.{task}"), Schedule(fixed.epochs, fixed.batch_size),
              test.images[:, 0].numpy(), result.cross_validation)
        total = times["load prepared set"] + times["whole analysis"] + times["engineering"]
        print(f"\n{task}: {len(labels)} training images")
        for label, seconds in times.items():
            print(f"  {label:<26} {seconds:7.1f} s")
        print(f"  {'analysis + engineering':<26} {total:7.1f} s = {total / BUDGET_S:.2f} of the "
              f"{BUDGET_S:.0f} s budget; {1e3 * total / len(labels):.2f} ms per image")


if __name__ == "__main__":
    main()
