"""Benchmark: the fast data path against the original way of feeding the model.

Original: every PNG decoded with OpenCV into a Python list of ``(float tensor, int)``, batched
by ``DataLoader``. Fast path: the prepared uint8 tensor file, batches drawn by index.
Both feed the same batches (checked) to ModelTask1 from the same initial weights for one epoch
of task 1's training set; the resulting weights must be identical. Prints samples/s and ratios,
each the best of a few runs after a warm-up epoch.
Needs the pipeline's data/ and prepared/ folders (``make run`` or ``dvc repro prepare``).
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from vvpipe.config import load
from vvpipe.data import TensorBatches, load_image_sets
from vvpipe.layout import read_grayscale
from vvpipe.models import ModelTask1
from vvpipe.recipe import fixed_optimizer
from vvpipe.settings.train import FixedTaskSettings
from vvpipe.training import Trainer

TASK1 = load(FixedTaskSettings, "task1")


def original_decode(root: Path) -> list[tuple[torch.Tensor, int]]:
    return [(torch.from_numpy(read_grayscale(path)).float().unsqueeze(0), int(folder.name))
            for folder in sorted(root.iterdir()) for path in sorted(folder.glob("*.png"))]


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def best_of(repeats: int, make_args, function) -> float:
    """The fastest of ``repeats`` runs: the least disturbed by the rest of the machine."""
    return min(timed(function, *make_args())[1] for _ in range(repeats))


def one_epoch(model: nn.Module, batches) -> None:
    Trainer(model, fixed_optimizer(model, TASK1), nn.CrossEntropyLoss(),
            progress=False).train_epoch(batches)


def drain(batches) -> int:
    return sum(len(labels) for _, labels in batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="task1")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each; the best counts")
    parser.add_argument("--shuffle", action="store_true", help="shuffled batches (default: the "
                        "original task 1 order)")
    args = parser.parse_args()

    dataset, original_load = timed(original_decode, Path("data") / args.task / "train")
    sets, fast_load = timed(load_image_sets, Path("prepared") / f"{args.task}.pt")
    train = sets["train"]
    n = len(train)
    assert n == len(dataset), "prepared set and data folder disagree: re-run `dvc repro`"

    def loader():
        return DataLoader(dataset, batch_size=256, shuffle=args.shuffle,
                          generator=torch.Generator().manual_seed(0))

    def fast():
        return TensorBatches(train.images, train.labels, 256, args.shuffle,
                             torch.Generator().manual_seed(0))

    same = all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(loader(), fast()))

    original_iterate = best_of(args.repeats, lambda: (loader(),), drain)
    fast_iterate = best_of(args.repeats, lambda: (fast(),), drain)

    torch.manual_seed(0)
    initial = ModelTask1()
    model, reference = copy.deepcopy(initial), copy.deepcopy(initial)
    one_epoch(reference, loader())
    one_epoch(model, fast())
    identical = all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                      reference.state_dict().values()))
    # Timed on fresh copies, after that first pass has warmed up both ways.
    original_epoch = best_of(args.repeats, lambda: (copy.deepcopy(initial), loader()), one_epoch)
    fast_epoch = best_of(args.repeats, lambda: (copy.deepcopy(initial), fast()), one_epoch)

    print(f"{args.task} training set: {n} images, batch 256, shuffle={args.shuffle}, "
          f"{torch.get_num_threads()} threads, best of {args.repeats}")
    print(f"same batches: {same}; identical weights after one epoch: {identical}")
    rows = [("load the training set", original_load, fast_load),
            ("iterate one epoch of batches", original_iterate, fast_iterate),
            ("one training epoch (ModelTask1)", original_epoch, fast_epoch)]
    print(f"{'':34s}{'original':>14s}{'fast path':>14s}{'ratio':>8s}")
    for name, slow, quick in rows:
        print(f"{name:34s}{n / slow:>10.0f} /s {n / quick:>10.0f} /s {slow / quick:>7.1f}x")
    if not (same and identical):
        raise SystemExit("the fast path diverged from the original")


if __name__ == "__main__":
    main()
