"""audit: precision and recall of the analysis per fault type, against the stand-in's manifest.
With any other archive there is no manifest to score against, and the stage says so."""

import json
from pathlib import Path

from vvpipe import stage
from vvpipe.audit import audit
from vvpipe.layout import TASKS

MANIFEST = Path("standin/manifest.json")


def main() -> None:
    task = stage.task_argument(TASKS)
    archive = stage.archive_identity()
    output = Path("reports") / task / "audit.json"
    # The scores are the analysis's: its numerics decided them.
    provenance = stage.read_json(Path("reports") / task / "analysis.json")["provenance"]
    reason = None
    if archive["kind"] != "stand-in":
        reason = "the archive is not the embedded stand-in: there is no fault manifest"
    elif not MANIFEST.is_file():
        reason = f"{MANIFEST} is missing: rebuild the stand-in with `make data.tar.xz`"
    else:
        manifest = json.loads(MANIFEST.read_text())
        if manifest.get("archive_sha256") != archive["sha256"]:
            reason = f"{MANIFEST} belongs to another archive than data.tar.xz"
    if reason:
        stage.write_json(output, {"skipped": True, "reason": reason, "provenance": provenance})
        print(f"audit {task}: skipped, {reason}")
        return
    scores = audit(stage.read_json(Path("analysis") / f"{task}.json"), manifest, task)
    stage.write_json(output, {"skipped": False, **scores, "provenance": provenance})
    for fault, s in scores.items():
        print(f"audit {task} {fault}: {s['truth']} in the manifest, {s['flagged']} flagged, "
              f"precision {s['precision']:.3f}, recall {s['recall']:.3f}, F1 {s['f1']:.3f}")


if __name__ == "__main__":
    stage.run(main)
