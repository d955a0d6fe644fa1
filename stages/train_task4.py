"""train_task4: ModelTask4 on task 1's training set and loaders (SGD lr 0.001, 100 epochs).

``reference`` trains it with plain cross-entropy; ``chosen`` with the logit-size-aware loss of
params.yaml:task4.loss. Both share every other setting, so they differ only in the loss.
"""

from pathlib import Path

import torch

from vvpipe import stage
from vvpipe.data import batches, loaders
from vvpipe.evaluation import predict
from vvpipe.live import DVCLiveLogger
from vvpipe.losses import LogitSizeLoss, LossSettings, PenaltyWarmup, Task4Settings
from vvpipe.models import ModelTask4
from vvpipe.training import Trainer

VARIANTS = ("reference", "chosen")


def main() -> None:
    variant = stage.task_argument(VARIANTS)
    settings, device, sets = stage.setup(Task4Settings, "task4", Path("engineered/task1.pt"))
    loss_settings = settings.loss if variant == "chosen" else LossSettings()

    model = ModelTask4().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)
    loss = LogitSizeLoss(loss_settings)
    # Unshuffled, so measuring the curve draws nothing from the validation loader's generator.
    curve_batches = batches(sets["val"], settings.batch_size, False, settings.seed, device)

    def validation_logit_size(trainer: Trainer) -> dict[str, float]:
        return {"val_logit_size": predict(model, curve_batches).outputs.abs().mean().item()}

    logger = DVCLiveLogger(Path("dvclive/task4") / variant, epoch_metrics=validation_logit_size)
    trainer = Trainer(model, optimizer, loss, callbacks=[PenaltyWarmup(loss), logger],
                      eval_loss_fn=torch.nn.CrossEntropyLoss())
    print(f"task4 {variant}: ModelTask4 on {device}, {len(sets['train'])} training images, "
          f"{settings.epochs} epochs, loss {loss_settings}")
    # Monitored on the validation split held out by engineer@task1, never on the test set.
    trainer.fit(*loaders(sets["train"], sets["val"], settings, device), settings.epochs)
    stage.save_model(model, Path("models/task4") / f"{variant}.pt")


if __name__ == "__main__":
    stage.run(main)
