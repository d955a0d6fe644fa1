"""engineer: the task's training set with the analysis acted on, as params.yaml:engineer.<task>
switches it, plus a changelog of every image dropped, changed or added and why."""

from pathlib import Path

from vvpipe import stage
from vvpipe.archive import split_digest
from vvpipe.config import EngineerSettings, load
from vvpipe.data import TASKS, load_image_sets, save_image_sets
from vvpipe.engineering import as_image_set, engineer, leaked_test_images


def main() -> None:
    task = stage.task_argument(TASKS)
    settings = load(EngineerSettings, f"engineer.{task}")
    sets = load_image_sets(Path("prepared") / f"{task}.pt")
    stage.verify_test_split(task)
    summary = stage.read_json(Path("reports") / task / "analysis.json")
    findings = stage.read_json(Path("analysis") / f"{task}.json")

    result = engineer(sets["train"], findings, summary, settings)
    leaked = leaked_test_images(result.images, sets["test"].images[:, 0].numpy())
    if leaked:
        raise ValueError(f"{leaked} engineered training images are identical to test images")
    save_image_sets({"train": as_image_set(result), "test": sets["test"]},
                    Path("engineered") / f"{task}.pt")
    stage.write_json(Path("engineered") / f"{task}_changelog.json", result.changelog.entries,
                     indent=None)
    report = {
        "train_images_before": len(sets["train"]), "train_images_after": len(result.labels),
        "changes": result.changelog.counts(),
        "classes_after": {str(c): int((result.labels == c).sum()) for c in range(10)},
        "shift_augmentation_ranges": result.shift_ranges,
        "test_images_in_training_set": leaked,
        "test_split_sha256": split_digest(Path("data") / task / "test"),
    }
    stage.write_json(Path("reports") / task / "engineering.json", report)
    print(f"{task}: {report['train_images_before']} → {report['train_images_after']} training "
          f"images; {report['changes']}")


if __name__ == "__main__":
    stage.run(main)
