"""Benchmark: where a full pipeline run spends its time, on one stand-in profile.

In a scratch copy of the repository (the project's files, none of its outputs) it builds the
profile's stand-in, runs one `dvc repro` and times each stage as DVC announces it, then times a
no-op `dvc repro`. From the training stages' timing logs (logs/timing/) it adds
each training stage's samples/s and the share of its epochs spent validating. Writes
studies/timing.json under "pipeline" → the profile, and prints a table.

    python benchmarks/pipeline_time.py                       # the default profile
    python benchmarks/pipeline_time.py --profile clean --keep
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scratch import ENV, REPO, scratch_copy, sh  # noqa: E402
from vvpipe.standin_profiles import PROFILES  # noqa: E402

# Each training stage's timing log (stage.write_timing) and whether it lists attempts.
TRAINING_LOGS = {
    "train@task1": True, "train@task3": True, "train_task2": False,
    "train_task4_reference": False, "train_task4": False,
}
LOG_NAMES = {"train_task4": "train_task4_chosen"}


def timed(repo: Path, *command: str) -> float:
    start = time.perf_counter()
    sh(repo, *command)
    return round(time.perf_counter() - start, 1)


def training_figures(repo: Path, stage: str) -> dict:
    log = repo / "logs" / "timing" / f"{LOG_NAMES.get(stage, stage)}.json"
    record = json.loads(log.read_text())
    runs = record["attempts"] if TRAINING_LOGS[stage] else [record]
    training = sum(run["training_seconds"] for run in runs)
    validation = sum(run["validation_seconds"] for run in runs)
    return {"runs": len(runs),
            "train_samples_per_second": round(
                sum(run["train_samples_per_second"] * run["training_seconds"] for run in runs)
                / training, 1),
            "validation_share": round(validation / (training + validation), 4)}


def repro_stage_times(repo: Path) -> dict[str, float]:
    """One `dvc repro`, as `make run` runs it; each stage's seconds from the moment DVC announces
    it to the moment it announces the next (so DVC's own work after a stage counts to it)."""
    process = subprocess.Popen(["dvc", "repro"], cwd=repo, env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    starts: list[tuple[str, float]] = []
    tail: list[str] = []
    for line in process.stdout:
        tail = (tail + [line])[-40:]
        if match := re.match(r"Running stage '([^']+)'", line):
            starts.append((match[1], time.perf_counter()))
            print(f"  {match[1]} ...", file=sys.stderr, flush=True)
    end = time.perf_counter()
    if process.wait() != 0:
        raise RuntimeError("dvc repro failed:\n" + "".join(tail))
    ends = [start for _, start in starts[1:]] + [end]
    return {name: round(stop - start, 1) for (name, start), stop in zip(starts, ends)}


def run(profile: str, root: Path) -> dict:
    repo = scratch_copy(root)
    stages: dict[str, float] = {}
    stages["stand-in"] = timed(repo, sys.executable, "-m", "vvpipe.standin", "--profile", profile)
    sh(repo, "git", "init", "-q")
    sh(repo, "dvc", "add", "-q", "data.tar.xz")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", f"stand-in profile {profile}")
    start = time.perf_counter()
    stages.update(repro_stage_times(repo))
    repro_seconds = round(time.perf_counter() - start, 1)
    return {
        "threads": int(os.environ.get("VVPIPE_THREADS") or os.environ.get("OMP_NUM_THREADS")
                       or 2),
        "stages_s": stages,
        "dvc_repro_s": repro_seconds,
        "total_s": round(stages["stand-in"] + repro_seconds, 1),
        "no_op_repro_s": timed(repo, "dvc", "repro"),
        "training": {stage: training_figures(repo, stage) for stage in TRAINING_LOGS
                     if stage in stages},
        "gpu": "not measured (no GPU on the machine that ran it)",
    }


def table(entry: dict) -> str:
    lines = ["| stage | seconds | share | training samples/s | validation share of epochs |",
             "|---|---|---|---|---|"]
    for stage, seconds in entry["stages_s"].items():
        training = entry["training"].get(stage)
        extra = (f"{training['train_samples_per_second']:,.0f} | "
                 f"{100 * training['validation_share']:.1f} %" if training else "— | —")
        lines.append(f"| {stage} | {seconds:,.1f} | {100 * seconds / entry['total_s']:.1f} % "
                     f"| {extra} |")
    lines.append(f"| **total** (stand-in + `dvc repro`) | **{entry['total_s']:,.1f}** "
                 f"({entry['total_s'] / 60:.1f} min) | 100 % | | |")
    lines.append(f"| no-op `dvc repro` | {entry['no_op_repro_s']} | | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="default", choices=list(PROFILES))
    parser.add_argument("--out", type=Path, default=REPO / "studies" / "timing.json")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy")
    parser.add_argument("--table", action="store_true",
                        help="only print the table of the profile already in --out")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(args.out.read_text())["pipeline"][args.profile]))
        return
    root = Path(tempfile.mkdtemp(prefix=f"vvpipe-timing-{args.profile}-"))
    try:
        entry = run(args.profile, root)
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    timing = json.loads(args.out.read_text()) if args.out.is_file() else {}
    timing.setdefault("pipeline", {})[args.profile] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(timing, indent=2) + "\n")
    print(table(entry))


if __name__ == "__main__":
    main()
