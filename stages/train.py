"""train: the task's fixed model, optimizer, loss and loader on its engineered training set,
validated after every epoch on the validation split held out from it. When a class ends with
almost no validation recall, the same setup trains again on another order of the same images
(params.yaml:<task>.order_attempts), and the run that validates best is kept."""

import time
from pathlib import Path

import torch
from torch import nn

from vvpipe import stage
from vvpipe.config import TrainSettings
from vvpipe.data import ImageSet, batches
from vvpipe.evaluation import per_class_recall, predict
from vvpipe.live import DVCLiveLogger
from vvpipe.models import TASK_MODELS, place
from vvpipe.training import Trainer, seed_everything


def reordered(train: ImageSet, seed: int) -> ImageSet:
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    return ImageSet(train.images[order], train.labels[order], [train.files[i] for i in order])


def main() -> None:
    task = stage.task_argument(tuple(TASK_MODELS))
    settings, device, sets = stage.setup(TrainSettings, task, Path("engineered") / f"{task}.pt")
    train, val = sets["train"], sets["val"]
    print(f"{task}: {TASK_MODELS[task].__name__} on {device}, {len(train)} training images, "
          f"{len(val)} validation images, {settings.epochs} epochs")
    attempts, best = [], None
    for attempt in range(settings.order_attempts):
        start = time.perf_counter()
        ordered = train if attempt == 0 else reordered(train, settings.seed + attempt)
        seed_everything(settings.seed)
        model = place(TASK_MODELS[task](), device, settings.channels_last)
        optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)
        trainer = Trainer(model, optimizer, nn.CrossEntropyLoss())
        train_batches = batches(ordered, settings.batch_size, settings.shuffle_train,
                                settings.seed, device)
        val_batches = batches(val, settings.batch_size, False, settings.seed + 1, device)
        history = trainer.fit(train_batches, val_batches, settings.epochs)
        recall = per_class_recall(predict(model, val_batches))
        record = {"attempt": attempt + 1, "order": "as stored" if attempt == 0
                  else f"permuted with seed {settings.seed + attempt}",
                  "val_accuracy": history[-1].val_accuracy, "val_loss": history[-1].val_loss,
                  "val_recall_per_class": recall, "min_val_recall": min(recall.values()),
                  "seconds": round(time.perf_counter() - start, 1), **trainer.timing()}
        attempts.append(record)
        print(f"{task} attempt {attempt + 1}: val accuracy {record['val_accuracy']:.4f}, "
              f"lowest class recall {record['min_val_recall']:.3f}")
        if best is None or record["val_accuracy"] > best[0]["val_accuracy"]:
            best = (record, {k: v.detach().clone() for k, v in model.state_dict().items()},
                    history)
        if record["min_val_recall"] >= settings.min_class_recall:
            break
    chosen, weights, history = best
    model = TASK_MODELS[task]()
    model.load_state_dict(weights)
    stage.save_model(model, Path("models") / f"{task}.pt")
    DVCLiveLogger.write(Path("dvclive") / task, history)
    stage.write_json(Path("reports") / task / "training.json", {
        "train_images": len(train), "val_images": len(val), "epochs": settings.epochs,
        "min_class_recall": settings.min_class_recall, "order_attempts": settings.order_attempts,
        "attempts": attempts, "chosen_attempt": chosen["attempt"],
        "seconds": round(sum(a["seconds"] for a in attempts), 1)})


if __name__ == "__main__":
    stage.run(main)
