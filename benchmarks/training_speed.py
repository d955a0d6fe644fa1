"""Benchmark: training samples/s of the fixed models in the default layout (the original loop)
and in the channels-last layout the pipeline trains with (``channels_last: true``).

Both paths train the same model from the same weights on the same batches of task 1's engineered
set, with the pinned numerics and the pipeline's thread count. They run interleaved, in one
process, and each figure is the median over repeats, so background load falls on both alike.
Writes the figures into studies/timing.json under "training_step" and prints them.

    python benchmarks/training_speed.py [--steps 60] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vvpipe import numerics  # noqa: E402

WARM_UP = 5  # oneDNN builds its kernels in the first steps


def samples_per_second(model_class, settings, channels_last: bool, batches: list) -> float:
    import torch

    from vvpipe.models import place
    from vvpipe.recipe import training_speed

    torch.manual_seed(0)
    model = place(model_class(), torch.device("cpu"), channels_last)
    return training_speed(model, settings, batches, WARM_UP)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="steps of 256 images per run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "studies" / "timing.json")
    args = parser.parse_args()
    numerics.pin()
    import torch

    from vvpipe.config import load
    from vvpipe.data import TensorBatches, load_image_sets
    from vvpipe.models import ModelTask1, ModelTask3, ModelTask4
    from vvpipe.settings.train import FixedTaskSettings

    # Task 1's optimizer for every model: the speed of a step does not depend on the rate.
    settings = load(FixedTaskSettings, "task1", REPO / "params.yaml")

    data = REPO / "engineered" / "task1.pt"
    if not data.is_file():
        sys.exit(f"{data} is missing: run `dvc repro engineer@task1` first")
    train = load_image_sets(data)["train"]
    n = (args.steps + WARM_UP) * 256
    batches = list(TensorBatches(train.images[:n], train.labels[:n], 256, False))
    results = {}
    for model_class in (ModelTask1, ModelTask3, ModelTask4):
        runs = {False: [], True: []}
        for _ in range(args.repeats):
            for channels_last in (False, True):
                runs[channels_last].append(samples_per_second(model_class, settings, channels_last,
                                                                     batches))
        default, fast = (statistics.median(runs[flag]) for flag in (False, True))
        results[model_class.__name__] = {"default_layout": round(default),
                                         "channels_last": round(fast),
                                         "speed-up": round(fast / default, 3)}
        print(f"{model_class.__name__}: default layout {default:7.0f} samples/s, channels-last "
              f"{fast:7.0f} samples/s, x{fast / default:.2f}", flush=True)
    timing = json.loads(args.out.read_text()) if args.out.is_file() else {}
    timing["training_step"] = {
        "what": f"median samples/s of {args.steps} SGD steps of 256 images (after {WARM_UP} "
                f"untimed), {args.repeats} interleaved repeats, same batches and weights",
        "threads": torch.get_num_threads(), "cpu_capability":
            torch.backends.cpu.get_cpu_capability(), "models": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(timing, indent=2) + "\n")


if __name__ == "__main__":
    main()
