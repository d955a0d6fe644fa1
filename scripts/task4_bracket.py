"""Task 4's cheap frontier of one loss member: a bracket on one knob instead of a grid.

    python scripts/task4_bracket.py default --dir /tmp/t4 --study task4_bracket_cap --shipped \\
        --row "penalise=non_target ce_weight=8 weights.l1=6.4 weights.above_margin=1" \\
        --knob target_margin --values 5,5.25,5.5,6

Phase 1 runs seed 0 at every value of the knob. The values are then ranked by their seed-0
validation logit-size ratio, and two are kept: the smallest-size value whose validation
cross-entropy change is within the rule's limit, and the next smaller-size one, which is past it.
Every other value is a loser (larger logits at a passing loss, or further past the limit) and
gets no more seeds. Phase 2 runs seeds 1 and 2 at the two kept values (and, with --shipped, the
shipped loss on every seed, to compare against, timed apart), and the study is the
frontier of all of them (scripts/task4_frontier.py), written back here as studies/STUDY.json
with the bracket, its phases and their wall times under "bracket".

The runs are DVC experiments in a copy of the repository on the profile's stand-in
(scripts/task4_profile_sweep.py), two at a time, one thread each (scripts/run_queue.sh).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scratch import ENV, REPO, sh  # noqa: E402
from task4_frontier import RULE  # noqa: E402
from task4_profile_sweep import prepared_copy  # noqa: E402
from vvpipe.frontier import bracket_on_limit  # noqa: E402
from vvpipe.settings.task4 import PLAIN_CROSS_ENTROPY  # noqa: E402
from vvpipe.standin_profiles import PROFILES  # noqa: E402


def knob_value(loss: dict, knob: str) -> float:
    """The value of a dotted task4.loss key (``target_margin``, ``weights.l1``) in a run's loss."""
    value = loss
    for part in knob.split("."):
        value = value[part]
    return float(value)


def run_phase(repo: Path, seeds: str, rows: str, row: str = "") -> float:
    """Queue the sweep's ``rows`` (``custom``: the one ``row``) for ``seeds`` and run the queue;
    its wall time."""
    env = {**ENV, "PYTHONPATH": str(repo), "ROWS": rows, "ROW": row, "SEEDS": seeds}
    start = time.perf_counter()
    for script in ("task4_sweep.sh", "run_queue.sh"):
        if subprocess.run(["bash", f"scripts/{script}"], cwd=repo, env=env).returncode:
            raise SystemExit(f"scripts/{script} failed in {repo}")
    return time.perf_counter() - start


def frontier(repo: Path, study: str, profile: str) -> dict:
    sh(repo, sys.executable, "scripts/task4_frontier.py", "--study", study, "--profile", profile)
    return json.loads((repo / "studies" / f"{study}.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", choices=list(PROFILES))
    parser.add_argument("--dir", type=Path, required=True, help="where the copy is kept")
    parser.add_argument("--study", required=True, help="studies/STUDY.json is written")
    parser.add_argument("--row", required=True, help="the member's task4.loss keys, KEY=VALUE ...")
    parser.add_argument("--knob", required=True, help="the task4.loss key the bracket moves")
    parser.add_argument("--values", required=True,
                        type=lambda text: [float(value) for value in text.split(",")])
    parser.add_argument("--shipped", action="store_true",
                        help="also run the shipped loss on every seed (timed apart from the sweep)")
    args = parser.parse_args()
    if len(args.values) < 2:
        parser.error("--values needs at least two values to bracket")
    limit = RULE["max_cross_entropy_change"]

    start = time.perf_counter()
    repo = prepared_copy(args.dir, args.profile)
    prepare_s = time.perf_counter() - start
    def grid(values: list[float]) -> str:
        return f"{args.row} {args.knob}={','.join(f'{value:g}' for value in values)}"

    first_s = run_phase(repo, "0", "custom", grid(args.values))
    seed0 = {knob_value(row["loss"], args.knob): {
        "cross_entropy_change": row["cross_entropy_change"]["mean"],
        "logit_size_ratio": row["logit_size_ratio"]["mean"]}
        for row in frontier(repo, args.study, args.profile)["rows"]
        if _same_member(row["loss"], args.row, args.knob)}
    missing = [value for value in args.values if value not in seed0]
    if missing:
        raise SystemExit(f"no completed seed-0 run at {args.knob} = {missing} in {repo}")
    kept, losers = bracket_on_limit({value: seed0[value] for value in args.values}, limit)
    print(f"seed 0: kept {args.knob} = {kept}, losers {losers}", flush=True)
    second_s = run_phase(repo, "1,2", "custom", grid(kept))
    shipped_s = run_phase(repo, "0,1,2", "default") if args.shipped else None

    report = frontier(repo, args.study, args.profile)
    report["bracket"] = {
        "row": args.row, "knob": args.knob, "values": args.values, "limit": limit,
        "seed0": {f"{value:g}": point for value, point in seed0.items()},
        "kept": kept, "losers": losers,
        "wall_s": {"prepare": round(prepare_s), "seed0": round(first_s),
                   "other_seeds": round(second_s),
                   "sweep": round(first_s + second_s),
                   "shipped_loss": shipped_s and round(shipped_s)}}
    (REPO / "studies" / f"{args.study}.json").write_text(json.dumps(report, indent=2) + "\n")
    shutil.copytree(repo / "studies" / args.study, REPO / "studies" / args.study,
                    dirs_exist_ok=True)
    print(f"bracket of {args.knob} on {args.profile}: seed 0 {first_s / 60:.1f} min, seeds 1-2 "
          f"{second_s / 60:.1f} min, sweep {(first_s + second_s) / 60:.1f} min "
          f"(copy prepared in {prepare_s / 60:.1f} min)")


def _same_member(loss: dict, row: str, knob: str) -> bool:
    """Whether a run's loss is ``row`` at some value of the knob: plain cross-entropy's settings
    with the row's keys set, as scripts/task4_sweep.sh queues it (a copy kept in --dir may hold
    runs of other rows)."""
    expected = dataclasses.asdict(PLAIN_CROSS_ENTROPY)
    for pair in row.split():
        key, value = pair.split("=", 1)
        *parents, leaf = key.split(".")
        node = expected
        for part in parents:
            node = node[part]
        node[leaf] = value if leaf == "penalise" else float(value)
    return _leaves(expected, knob) == _leaves(loss, knob)


def _leaves(loss: dict, knob: str, prefix: str = "") -> dict[str, object]:
    """A loss's settings as {dotted key: value}, numbers as floats, the knob left out."""
    leaves: dict[str, object] = {}
    for key, value in loss.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            leaves.update(_leaves(value, knob, f"{dotted}."))
        elif dotted != knob:
            leaves[dotted] = value if isinstance(value, str) else float(value)
    return leaves


if __name__ == "__main__":
    main()
