"""train_task4: ModelTask4 on task 1's training set and loaders (SGD lr 0.001), on the share of
the set and for the epochs params.yaml:task4 names.

``reference`` trains it with plain cross-entropy; ``chosen`` with the logit-size-aware loss of
params.yaml:task4.loss. Both share every other setting, so they differ only in the loss.
"""

import dataclasses
import time
from pathlib import Path

import torch

from vvpipe import models, runtime, stage
from vvpipe.data import stratified_subset
from vvpipe.evaluation import mean_logit_size, predict
from vvpipe.live import DVCLiveLogger
from vvpipe.losses import LogitSizeLoss, PenaltyWarmup
from vvpipe.settings.task4 import PLAIN_CROSS_ENTROPY, Task4Settings
from vvpipe.models import ModelTask4
from vvpipe.recipe import fixed_setup, held_out_batches, scoring_batches, train_batches
from vvpipe.errors import NonFiniteLossError
from vvpipe.training import Trainer, announce_plan

VARIANTS = ("reference", "chosen")


def main() -> None:
    variant = stage.task_argument(VARIANTS)
    settings, device, sets = runtime.setup(Task4Settings, "task4", Path("engineered/task4.pt"))
    train = stratified_subset(sets["train"], settings.train_samples, settings.seed)
    loss_settings = settings.loss if variant == "chosen" else PLAIN_CROSS_ENTROPY

    model, optimizer = fixed_setup(ModelTask4, settings, device)
    loss = LogitSizeLoss(loss_settings)
    # Unshuffled, so measuring the curve draws nothing from the validation loader's generator.
    curve_batches = scoring_batches(sets["val"], settings, device)

    def validation_logit_size(trainer: Trainer) -> dict[str, float]:
        return {"val_logit_size": mean_logit_size(predict(model, curve_batches))}

    logger = DVCLiveLogger(Path("dvclive/task4") / variant, epoch_metrics=validation_logit_size)
    trainer = Trainer(model, optimizer, loss, callbacks=[PenaltyWarmup(loss), logger],
                      eval_loss_fn=torch.nn.CrossEntropyLoss())
    print(f"task4 {variant}: ModelTask4 on {device}, {len(train)} of {len(sets['train'])} "
          f"training images, {settings.epochs} epochs, loss {loss_settings}")
    announce_plan(model, loss, train.images, train.labels, settings, "task4",
                  label=f"task4 {variant}")
    started = time.perf_counter()
    try:
        # Monitored on the validation split held out by engineer@task1, never on the test set.
        trainer.fit(train_batches(train, settings, device),
                    held_out_batches(sets["val"], settings, device), settings.epochs)
        status = "completed"
    except NonFiniteLossError as error:
        # A loss setting that diverges is a result of the sweep, not a broken run: it is recorded
        # as failed with its settings, and evaluate_task4 reports it instead of figures.
        status = f"failed: {error}"
        print(f"task4 {variant}: {status}")
    seconds = time.perf_counter() - started
    models.save_model(model, Path("models/task4") / f"{variant}.pt")
    stage.write_json(Path("reports/task4") / f"training_{variant}.json", {
        "status": status, "loss": dataclasses.asdict(loss_settings),
        "train_images": len(train), "engineered_images": len(sets["train"]),
        "epochs": settings.epochs, "epochs_run": len(trainer.history),
    })
    stage.write_timing(f"train_task4_{variant}", {"wall_seconds": round(seconds, 1),
                                                  **trainer.timing()})


if __name__ == "__main__":
    stage.run(main)
