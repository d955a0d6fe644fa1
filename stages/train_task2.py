"""train_task2: ModelTask1 on task 1's training set with checkpoints, early stopping, an LR
scheduler and SWA, as configured in params.yaml:task2. Resumes an interrupted run."""

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

import torch

from vvpipe import custody, models, runtime, stage
from vvpipe.callbacks import mark_finished, resumable_checkpoint
from vvpipe.errors import NonFiniteLossError, ParamsError
from vvpipe.data import ImageSet
from vvpipe.models import ModelTask1
from vvpipe.recipe import fixed_setup, held_out_batches, train_batches
from vvpipe.task2 import task2_trainer
from vvpipe.settings.task2 import Task2Settings
from vvpipe.training import announce_plan

DATA = Path("engineered/task2.pt")
CHECKPOINTS = Path("checkpoints/task2")
MODELS = Path("models/task2")
MONITORED_ON = {"validation": "validation split",
                "test": "test set (original behaviour: test figures are optimistic)"}


def fingerprint(settings: Task2Settings) -> str:
    digest = hashlib.sha256(json.dumps(asdict(settings), sort_keys=True).encode())
    digest.update(DATA.read_bytes())
    return digest.hexdigest()


def check_validation_split(train: ImageSet, val: ImageSet) -> None:
    """Every class of the training set has validation images to be monitored on."""
    missing = sorted(set(train.labels.tolist()) - set(val.labels.tolist()))
    if missing:
        raise ParamsError(f"engineer.task1.validation leaves no validation image of class(es) "
                          f"{missing}; task 2 monitors that split: raise the fraction")


def main() -> None:
    settings, device, sets = runtime.setup(Task2Settings, "task2", DATA)

    if settings.monitor_split == "test":
        print("task2: monitor_split is 'test' (the original script's behaviour): the best model, "
              "early stopping and the LR plateau follow the test set, so the run's test figures "
              "are optimistic; the console's 'val' figures are test figures")
        monitored = custody.labelled_test_set("task1")
    else:
        # The split engineer@task1 held out before it grew the set, so no copy of a
        # validation digit is trained on.
        check_validation_split(sets["train"], sets["val"])
        monitored = sets["val"]
    model, optimizer = fixed_setup(ModelTask1, settings, device)
    announce_plan(model, torch.nn.CrossEntropyLoss(), sets["train"].images, sets["train"].labels,
                  settings, "task2")
    training, monitored_batches = (train_batches(sets["train"], settings, device),
                                   held_out_batches(monitored, settings, device))
    trainer, callbacks = task2_trainer(settings, model, optimizer, training,
                                       CHECKPOINTS if settings.checkpoint.enabled else None,
                                       Path("dvclive/task2"))

    resume = resumable_checkpoint(CHECKPOINTS, fingerprint(settings))
    if resume is not None:
        trainer.load_state_dict(torch.load(resume, map_location=device, weights_only=False),
                                training, monitored_batches)
        print(f"task2: resuming from {resume} (epoch {trainer.epoch})")
    start = time.perf_counter()
    trainer.fit(training, monitored_batches, settings.epochs)
    seconds = time.perf_counter() - start

    if callbacks.best.weights is None:
        raise NonFiniteLossError(f"no epoch gave a finite {settings.monitor}: there is no best "
                                 "model; lower task2.lr")
    models.save_model(model, MODELS / "final.pt")
    best_model = ModelTask1().to(device)
    best_model.load_state_dict(callbacks.best.weights)
    models.save_model(best_model, MODELS / "best.pt")
    swa_model = callbacks.swa.model() if callbacks.swa else None
    (MODELS / "swa.pt").unlink(missing_ok=True)
    if swa_model is not None:
        models.save_model(swa_model, MODELS / "swa.pt")
    stage.write_json(Path("reports/task2/training.json"), {
        "monitored_on": MONITORED_ON[settings.monitor_split],
        "epochs_run": trainer.epoch,
        "best_epoch": trainer.monitor.best_epoch,
        "stopped_early": trainer.should_stop,
        "stop_reason": trainer.stop_reason or "completed all epochs",
        "swa_start_epoch": callbacks.swa.start_epoch if callbacks.swa else None,
        "swa_averaged_epochs": callbacks.swa.n_averaged if callbacks.swa else 0,
        "final_lr": optimizer.param_groups[0]["lr"],
    })
    # Of this process only: a resumed run's earlier part is not included. Whether it resumed
    # is the run's history, not its result (a resumed run ends on the same figures).
    stage.write_timing("train_task2", {
        "wall_seconds": round(seconds, 1), **trainer.timing(),
        "resumed_from_epoch": int(resume.stem.split("-")[1]) if resume else None})
    if settings.checkpoint.enabled:
        mark_finished(CHECKPOINTS)


if __name__ == "__main__":
    stage.run(main)
