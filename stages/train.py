"""train: the task's fixed model, optimizer, loss and loaders on its training set."""

from pathlib import Path

import torch
from torch import nn

from vvpipe import config, stage
from vvpipe.callbacks import DVCLiveLogger
from vvpipe.config import TrainSettings
from vvpipe.data import batches, load_image_sets
from vvpipe.models import TASK_MODELS
from vvpipe.training import Trainer, seed_everything, select_device


def main() -> None:
    task = stage.task_argument(tuple(TASK_MODELS))
    settings = config.load(TrainSettings, task)
    seed_everything(settings.seed)
    device = select_device(settings.device)
    sets = load_image_sets(Path("prepared") / f"{task}.pt")

    model = TASK_MODELS[task]().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(),
                      callbacks=[DVCLiveLogger(Path("dvclive") / task)])
    print(f"{task}: {type(model).__name__} on {device}, {len(sets['train'])} training images, "
          f"{settings.epochs} epochs")
    trainer.fit(batches(sets["train"], settings.batch_size, settings.shuffle_train,
                        settings.seed, device),
                batches(sets["test"], settings.batch_size, settings.shuffle_test,
                        settings.seed + 1, device),
                settings.epochs)

    out = Path("models") / f"{task}.pt"
    out.parent.mkdir(exist_ok=True)
    torch.save(model.state_dict(), out)


if __name__ == "__main__":
    stage.run(main)
