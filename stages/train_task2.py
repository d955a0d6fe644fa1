"""train_task2: ModelTask1 on task 1's training set with checkpoints, early stopping, an LR
scheduler and SWA, as configured in params.yaml:task2. Resumes an interrupted run."""

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from vvpipe import stage
from vvpipe.callbacks import mark_finished, resumable_checkpoint, task2_callbacks
from vvpipe.config import Task2Settings
from vvpipe.data import loaders
from vvpipe.models import ModelTask1
from vvpipe.training import Trainer

DATA = Path("engineered/task1.pt")
CHECKPOINTS = Path("checkpoints/task2")
MODELS = Path("models/task2")


def fingerprint(settings: Task2Settings) -> str:
    digest = hashlib.sha256(json.dumps(asdict(settings), sort_keys=True).encode())
    digest.update(DATA.read_bytes())
    return digest.hexdigest()


def main() -> None:
    settings, device, sets = stage.setup(Task2Settings, "task2", DATA)

    model = ModelTask1().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)
    # Monitored on the validation split held out by engineer@task1, never on the test set.
    train_batches, val_batches = loaders(sets["train"], sets["val"], settings, device)
    callbacks = task2_callbacks(settings, model, optimizer, train_batches, len(train_batches),
                                CHECKPOINTS if settings.checkpoint.enabled else None,
                                Path("dvclive/task2"))
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), callbacks.ordered())

    resume = resumable_checkpoint(CHECKPOINTS, fingerprint(settings))
    if resume is not None:
        trainer.load_state_dict(torch.load(resume, map_location=device, weights_only=False),
                                train_batches, val_batches)
        print(f"task2: resuming from {resume} (epoch {trainer.epoch})")
    trainer.fit(train_batches, val_batches, settings.epochs)

    stage.save_model(model, MODELS / "final.pt")
    best_model = ModelTask1().to(device)
    callbacks.best.restore(best_model)
    stage.save_model(best_model, MODELS / "best.pt")
    swa_model = callbacks.swa.model() if callbacks.swa else None
    (MODELS / "swa.pt").unlink(missing_ok=True)
    if swa_model is not None:
        stage.save_model(swa_model, MODELS / "swa.pt")
    stage.write_json(Path("reports/task2/training.json"), {
        "epochs_run": trainer.epoch,
        "best_epoch": callbacks.best.monitor.best_epoch,
        "stopped_early": trainer.should_stop,
        "stop_reason": trainer.stop_reason or "completed all epochs",
        "swa_start_epoch": callbacks.swa.start_epoch if callbacks.swa else None,
        "swa_averaged_epochs": callbacks.swa.n_averaged if callbacks.swa else 0,
        "final_lr": optimizer.param_groups[0]["lr"],
        "resumed_from_epoch": int(resume.stem.split("-")[1]) if resume else None,
    })
    if settings.checkpoint.enabled:
        mark_finished(CHECKPOINTS)


if __name__ == "__main__":
    stage.run(main)
