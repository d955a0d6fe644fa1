"""prepare: decode a task's images once into one tensor file (the fast data path). The test
labels go to a file of their own that only the evaluation stages read."""

from pathlib import Path

from vvpipe import custody, stage
from vvpipe.data import read_split, save_image_sets
from vvpipe.layout import SPLITS, TASKS


def main() -> None:
    task = stage.task_argument(TASKS)
    sets = {split: read_split(Path("data") / task / split) for split in SPLITS}
    save_image_sets({"train": sets["train"], "test": sets["test"].without_labels()},
                    Path("prepared") / f"{task}.pt")
    custody.save_test_labels(sets["test"], task)
    stage.write_json(Path("reports") / task / "prepare.json", {
        split: {"images": len(s), "skipped": s.skipped} for split, s in sets.items()})
    for split, image_set in sets.items():
        print(f"{task}/{split}: {len(image_set)} images, {len(image_set.skipped)} skipped")


if __name__ == "__main__":
    stage.run(main)
