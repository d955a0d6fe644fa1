"""Calibration of the stand-in (fault-free figures): the fixed models and original optimizers
trained on the fault-free version of each training set, tested on the archive's test sets.

The raw-set baselines are the pipeline's own metrics (metrics/task1.json, metrics/task3.json).
Prints a table and writes studies/calibration.json. Takes about 25 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from vvpipe.config import load
from vvpipe.settings.train import FIXED_TASK_SETTINGS
from vvpipe.data import ImageSet
from vvpipe.evaluation import classification_metrics, predict
from vvpipe.recipe import held_out_batches, original_run
from vvpipe.stage import write_json
from vvpipe.digit_faults import shifted
from vvpipe.standin import Sample, build
from vvpipe.standin_profiles import StandInConfig
from vvpipe.runtime import select_device


def to_image_set(samples: list[Sample]) -> ImageSet:
    # The archive stores these as PNG, which is lossless: the arrays are what the reader decodes.
    return ImageSet(torch.from_numpy(np.stack([s.image for s in samples])).unsqueeze(1),
                    torch.tensor([s.label for s in samples]), [])


def shift_augmented(samples: list[Sample], config: StandInConfig) -> list[Sample]:
    rng = np.random.default_rng(config.seed + 3)
    return samples + [Sample(shifted(s.image, rng, config), s.label, s.true_label, s.source)
                      for s in samples]


def train_and_test(task: str, train: ImageSet, test: ImageSet, shuffle_train: bool,
                   epochs: int | None) -> dict:
    settings = replace(load(FIXED_TASK_SETTINGS[task], task), shuffle_train=shuffle_train)
    device = select_device(settings.device)

    start = time.perf_counter()
    model = original_run(task, settings, train, test, device, epochs)
    metrics = classification_metrics(predict(model, held_out_batches(test, settings, device)))
    return {"accuracy": metrics["accuracy"], "cross_entropy": metrics["cross_entropy"],
            "train_samples": len(train), "shuffle_train": shuffle_train,
            "epochs": epochs or settings.epochs, "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=None, help="override (for a quick look)")
    parser.add_argument("--out", type=Path, default=Path("studies/calibration.json"))
    args = parser.parse_args()

    standin = build(StandInConfig())
    runs = {
        # name: (task, training samples, shuffle the training loader)
        "task1 fault-free, original loader (no shuffle)":
            ("task1", standin.clean_train["task1/train"], False),
        "task1 fault-free, shuffled loader": ("task1", standin.clean_train["task1/train"], True),
        "task3 fault-free, original loader": ("task3", standin.clean_train["task3/train"], True),
        # Feasibility of task 3's target: fault-free plus one copy of each image under the test
        # set's kind of shift (an engineered set can learn it from the analysis' measurements).
        "task3 fault-free + shift-covering copies":
            ("task3", shift_augmented(standin.clean_train["task3/train"], standin.config), True),
    }
    results = {}
    for name, (task, samples, shuffle) in runs.items():
        results[name] = train_and_test(task, to_image_set(samples),
                                       to_image_set(standin.splits[f"{task}/test"]), shuffle,
                                       args.epochs)
        print(f"{name:50s} accuracy {results[name]['accuracy']:.4f}  "
              f"({results[name]['train_samples']} images, {results[name]['seconds']} s)", flush=True)
    write_json(args.out, results)


if __name__ == "__main__":
    main()
