"""engineer: the task's training set with the analysis acted on, as params.yaml:engineer.<task>
switches it: cleaned, a validation split held out, grown to the size the task's fixed schedule
needs with balanced classes of test-matched copies; plus a changelog of every image dropped,
changed, held out or added and why."""

from pathlib import Path

import torch

from vvpipe import stage
from vvpipe.label_check import CrossValidation
from vvpipe.config import load
from vvpipe.settings.data import EngineerSettings
from vvpipe.settings.train import FixedTaskSettings
from vvpipe.data import ImageSet, load_image_sets, save_image_sets
from vvpipe.engineering import Schedule, as_image_set, engineer, leaked_test_images
from vvpipe.errors import DataError
from vvpipe.files import split_digest
from vvpipe.layout import TASKS


def main() -> None:
    task = stage.task_argument(TASKS)
    settings = load(EngineerSettings, f"engineer.{task}")
    # The task's fixed schedule (epochs, batch size) decides how many steps a set size gives.
    fixed = load(FixedTaskSettings, task)
    schedule = Schedule(fixed.epochs, fixed.batch_size, fixed.max_steps)
    schedule.check_reaches(settings.min_steps, task)
    settings.check_memory(f"engineer.{task}", schedule.epochs, schedule.batch_size)
    sets = load_image_sets(Path("prepared") / f"{task}.pt")
    stage.verify_test_split(task)
    summary = stage.read_json(Path("reports") / task / "analysis.json")
    findings = stage.read_json(Path("analysis") / f"{task}.json")

    test_pixels = sets["test"].images[:, 0].numpy()
    cross_validation = CrossValidation.load(Path("analysis") / f"{task}_cv.pt")
    result = engineer(sets["train"], findings, summary, settings, schedule, test_pixels,
                      cross_validation)
    leaked = leaked_test_images(result.images, test_pixels)
    if leaked:
        raise DataError(f"{leaked} engineered training images are identical to test images")
    val = ImageSet(torch.from_numpy(result.val_images).unsqueeze(1).contiguous(),
                   torch.from_numpy(result.val_labels).long(), result.val_files)
    save_image_sets({"train": as_image_set(result), "val": val}, Path("engineered") / f"{task}.pt")
    stage.write_json(Path("engineered") / f"{task}_changelog.json", result.changelog.entries,
                     indent=None)
    report = {
        "train_images_before": len(sets["train"]), "train_images_after": len(result.labels),
        "changes": result.changelog.counts(),
        **result.report,
        "test_images_in_training_set": leaked,
        "test_split_sha256": split_digest(Path("data") / task / "test"),
    }
    stage.write_json(Path("reports") / task / "engineering.json", report)
    sizing = report["sizing"]
    print(f"{task}: {report['train_images_before']} → {report['train_images_after']} training "
          f"images ({sizing.get('total_steps')} optimizer steps), {len(result.val_labels)} held "
          f"out for validation; {report['changes']}")


if __name__ == "__main__":
    stage.run(main)
