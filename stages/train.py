"""train: the task's fixed model, optimizer, loss and loader on its engineered training set,
validated after every epoch on the validation split held out from it. When a class dies, the
recipe tries other initial weights on another order (params.yaml:<task>.order_attempts) and
keeps the attempt that validates best (vvpipe.recipe)."""

from pathlib import Path

from vvpipe import models, runtime, stage
from vvpipe.settings.train import FIXED_TASK_SETTINGS
from vvpipe.live import DVCLiveLogger
from vvpipe.models import TASK_MODELS
from vvpipe.recipe import fit_fixed


def main() -> None:
    task = stage.task_argument(tuple(TASK_MODELS))
    settings, device, sets = runtime.setup(FIXED_TASK_SETTINGS[task], task, Path("engineered") / f"{task}.pt")
    train, val = sets["train"], sets["val"]
    print(f"{task}: {TASK_MODELS[task].__name__} on {device}, {len(train)} training images, "
          f"{len(val)} validation images, {settings.epochs} epochs")
    result = fit_fixed(task, settings, train, val, device)
    model = TASK_MODELS[task]()
    model.load_state_dict(result.weights)
    models.save_model(model, Path("models") / f"{task}.pt")
    DVCLiveLogger.write(Path("dvclive") / task, result.history)
    stage.write_json(Path("reports") / task / "training.json", {
        "train_images": len(train), "val_images": len(val), "epochs": settings.epochs,
        "min_class_recall": settings.min_class_recall, "order_attempts": settings.order_attempts,
        "planned_steps": result.plan["planned_steps"], "attempts": result.attempts,
        "chosen_attempt": result.attempts[result.chosen]["attempt"]})
    stage.write_timing(f"train@{task}", {
        "seconds": round(sum(t["seconds"] for t in result.timings), 1),
        **{k: v for k, v in result.plan.items() if k != "planned_steps"},
        "attempts": result.timings})


if __name__ == "__main__":
    stage.run(main)
