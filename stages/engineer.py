"""engineer: a training run's set, made from its task's training images with the analysis acted
on, as params.yaml:engineer.<task> switches it: cleaned, a validation split held out, grown to
the size the run's own schedule needs with balanced classes of test-matched copies; plus a
changelog of every image dropped, changed, held out or added and why.

Tasks 2 and 4 train on task 1's images, each on a set grown for its own schedule: a change to
task 1's epochs re-engineers task 1's set only."""

from pathlib import Path

from vvpipe import custody, stage
from vvpipe.config import load
from vvpipe.data import load_image_sets, save_image_sets
from vvpipe.engineering import Schedule, as_image_sets, engineer, leaked_test_images
from vvpipe.errors import DataError
from vvpipe.files import split_digest
from vvpipe.label_check import CrossValidation
from vvpipe.settings.data import ENGINEER_SETTINGS
from vvpipe.settings.train import TrainSettings

# Which task's training images each run's set is made from.
IMAGES_OF = {"task1": "task1", "task2": "task1", "task3": "task3", "task4": "task1"}


def main() -> None:
    run = stage.task_argument(tuple(IMAGES_OF))
    task = IMAGES_OF[run]
    settings = load(ENGINEER_SETTINGS[task], f"engineer.{task}")
    # The run's own schedule (epochs, batch size, ceiling) decides how many steps a set size
    # gives; check_params has checked the rest of its section.
    fixed = load(TrainSettings, run, partial=True)
    schedule = Schedule(fixed.epochs, fixed.batch_size, fixed.max_steps)
    schedule.check_reaches(settings.min_steps, run, task)
    settings.check_memory(f"engineer.{task}", schedule.epochs, schedule.batch_size)
    sets = load_image_sets(Path("prepared") / f"{task}.pt")
    custody.verify_test_split(task)
    summary = stage.read_json(Path("reports") / task / "analysis.json")
    findings = stage.read_json(Path("analysis") / f"{task}.json")

    test_pixels = sets["test"].images[:, 0].numpy()
    cross_validation = CrossValidation.load(Path("analysis") / f"{task}_cv.pt")
    result = engineer(sets["train"], findings, summary, settings, schedule, test_pixels,
                      cross_validation)
    leaked = leaked_test_images(result.images, test_pixels)
    if leaked:
        raise DataError(f"{leaked} engineered training images are identical to test images")
    save_image_sets(as_image_sets(result), Path("engineered") / f"{run}.pt")
    stage.write_json(Path("engineered") / f"{run}_changelog.json", result.changelog.entries,
                     indent=None)
    report = {
        "images_of": task,
        "train_images_before": len(sets["train"]), "train_images_after": len(result.labels),
        "changes": result.changelog.counts(),
        **result.report,
        "test_images_in_training_set": leaked,
        "test_split_sha256": split_digest(Path("data") / task / "test"),
    }
    stage.write_json(Path("reports") / run / "engineering.json", report)
    sizing = report["sizing"]
    print(f"{run} (from {task}'s images): {report['train_images_before']} → "
          f"{report['train_images_after']} training images ({sizing.get('total_steps')} "
          f"optimizer steps), {len(result.val_labels)} held out for validation; "
          f"{report['changes']}")


if __name__ == "__main__":
    stage.run(main)
