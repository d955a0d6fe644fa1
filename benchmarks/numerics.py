"""Benchmark: what the pinned CPU numerics (``vvpipe.numerics``) cost and what they buy.

Two "machines" share this CPU: ``native`` as it is, and ``avx2`` with every library capped at
AVX2 from outside (``ONEDNN_MAX_CPU_ISA``, ``ATEN_CPU_CAPABILITY``, ``MKL_ENABLE_INSTRUCTIONS``),
as an AVX2-only CPU would run. On each, with and without the pin, a child process trains
ModelTask1 and ModelTask3 with their fixed optimizer for a few hundred steps on task 1's prepared
training images and prints the weights' sha256 and the samples/s. The children run interleaved,
and samples/s are the median over repeats, so background load falls on every row alike.

Shows: without the pin the two machines end with different weights; with it, identical ones;
and the pin's speed cost on this CPU. Needs ``prepared/task1.pt`` (``dvc repro prepare@task1``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

MACHINES = {
    "native": {},
    "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
             "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}
REPO = Path(__file__).resolve().parents[1]
WARM_UP = 5


def child(steps: int) -> None:
    """One machine's run (in its own process, so the ISA caps it was started with hold): each
    fixed model trained ``steps`` steps with task 1's optimizer; prints one JSON line."""
    import hashlib

    from vvpipe import numerics

    numerics.pin()  # before torch is imported
    import torch

    from vvpipe.config import load
    from vvpipe.data import TensorBatches, load_image_sets
    from vvpipe.models import TASK_MODELS, place
    from vvpipe.recipe import training_speed
    from vvpipe.settings.train import FixedTaskSettings

    settings = load(FixedTaskSettings, "task1", REPO / "params.yaml")
    train = load_image_sets(REPO / "prepared" / "task1.pt")["train"]
    n = steps * 256
    batches = list(TensorBatches(train.images[:n], train.labels[:n], 256, False))
    results = {}
    for task, model_class in TASK_MODELS.items():
        torch.manual_seed(0)
        model = place(model_class(), torch.device("cpu"), channels_last=False)
        speed = training_speed(model, settings, batches, WARM_UP)
        weights = b"".join(p.detach().numpy().tobytes() for p in model.parameters())
        results[task] = {"sha256": hashlib.sha256(weights).hexdigest()[:16], "samples_per_s": speed}
    results["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    print(json.dumps(results))


def run_child(machine: str, pinned: bool, steps: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in MACHINES["avx2"]}
    env.update(MACHINES[machine])
    env["VVPIPE_NATIVE_ISA"] = "0" if pinned else "1"
    output = subprocess.run([sys.executable, __file__, "--child", str(steps)], env=env, check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100,
                        help="training steps per model, the first 5 untimed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", type=int, metavar="STEPS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(REPO))
        return child(args.child)
    if not Path("prepared/task1.pt").is_file():
        sys.exit("prepared/task1.pt is missing: run `dvc repro prepare@task1` first")
    runs: dict[tuple[str, bool], list[dict]] = {}
    for _ in range(args.repeats):
        for pinned in (False, True):
            for machine in MACHINES:
                runs.setdefault((machine, pinned), []).append(run_child(machine, pinned, args.steps))
    print(f"{args.steps} steps of 256 images per model, median of {args.repeats} runs, "
          f"{os.environ.get('VVPIPE_THREADS', os.environ.get('OMP_NUM_THREADS', 2))} threads\n")
    print(f"{'pin':<6} {'machine':<8} {'capability':<10} {'task':<6} {'weights sha256':<17} samples/s")
    for (machine, pinned), results in runs.items():
        for task in ("task1", "task3"):
            hashes = {r[task]["sha256"] for r in results}
            assert len(hashes) == 1, f"one setting gave different weights in repeats: {hashes}"
            speed = statistics.median(r[task]["samples_per_s"] for r in results)
            print(f"{'on' if pinned else 'off':<6} {machine:<8} {results[0]['cpu_capability']:<10} "
                  f"{task:<6} {hashes.pop():<17} {speed:8.0f}")
    print()
    for task in ("task1", "task3"):
        for pinned in (False, True):
            same = runs[("native", pinned)][0][task]["sha256"] == runs[("avx2", pinned)][0][task]["sha256"]
            print(f"{task}, pin {'on ' if pinned else 'off'}: native and avx2 machines give "
                  f"{'identical' if same else 'different'} weights")
        native = statistics.median(r[task]["samples_per_s"] for r in runs[("native", False)])
        pinned = statistics.median(r[task]["samples_per_s"] for r in runs[("native", True)])
        print(f"{task}: pinned / native speed on this CPU = {pinned / native:.2f}")


if __name__ == "__main__":
    main()
