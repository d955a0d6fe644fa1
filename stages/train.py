"""train: the task's fixed model, optimizer, loss and loaders on its training set."""

from pathlib import Path

import torch
from torch import nn

from vvpipe import stage
from vvpipe.callbacks import DVCLiveLogger
from vvpipe.config import TrainSettings
from vvpipe.data import loaders
from vvpipe.models import TASK_MODELS
from vvpipe.training import Trainer


def main() -> None:
    task = stage.task_argument(tuple(TASK_MODELS))
    settings, device, sets = stage.setup(TrainSettings, task, Path("engineered") / f"{task}.pt")

    model = TASK_MODELS[task]().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(),
                      callbacks=[DVCLiveLogger(Path("dvclive") / task)])
    print(f"{task}: {type(model).__name__} on {device}, {len(sets['train'])} training images, "
          f"{settings.epochs} epochs")
    trainer.fit(*loaders(sets["train"], sets["test"], settings, device), settings.epochs)
    stage.save_model(model, Path("models") / f"{task}.pt")


if __name__ == "__main__":
    stage.run(main)
