"""analyze: class balance, duplicates, anomalies, label issues (cleanlab on out-of-fold
probabilities), train/test shift and loader ordering of one task's training set."""

from pathlib import Path

from vvpipe import numerics, runtime, stage
from vvpipe.analysis import analyse
from vvpipe.figures import save_grid
from vvpipe.settings.data import AnalysisSettings
from vvpipe.layout import TASKS
from vvpipe.reporting import analysis_markdown

GRIDS = {
    "label_issues": "Worst label issues: given → predicted (out-of-fold probability)",
    "duplicates": "Largest exact-duplicate groups",
    "anomalies": "Anomalous images",
    "train_vs_test": "Training (upright) and test images, unlabelled",
}


def main() -> None:
    task = stage.task_argument(TASKS)
    settings, device, sets = runtime.setup(AnalysisSettings, "analyze", Path("prepared") / f"{task}.pt")
    train, test = sets["train"], sets["test"]
    result = analyse(train.images[:, 0].numpy(), train.labels.numpy(), train.files,
                     test.images[:, 0].numpy(), stage.read_json(Path("reports/inventory.json")),
                     task, settings, device)
    result.summary["provenance"] = numerics.provenance(device)
    reports = Path("reports") / task
    stage.write_json(reports / "analysis.json", result.summary)
    stage.write_text(reports / "analysis.md", analysis_markdown(result.summary))
    (reports / "analysis").mkdir(parents=True, exist_ok=True)
    for name, title in GRIDS.items():
        images, captions = result.examples[name]
        save_grid(images, captions, f"{task}: {title}", reports / "analysis" / f"{name}.png")
    stage.write_json(Path("analysis") / f"{task}.json", result.findings, indent=None)
    result.cross_validation.save(Path("analysis") / f"{task}_cv.pt")
    print((reports / "analysis.md").read_text())


if __name__ == "__main__":
    stage.run(main)
