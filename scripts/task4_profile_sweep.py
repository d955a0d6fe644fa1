"""Task 4's frontier on another stand-in profile: a copy of the repository built on that
profile's stand-in, the sweep's rows queued and run there as DVC experiments, and the frontier
written back here as studies/task4_frontier_PROFILE.json (and its plot series).

    python scripts/task4_profile_sweep.py heavy-noise --rows "default margin" --dir /tmp/t4
    python scripts/task4_frontier.py --choose studies/task4_frontier_margin.json \\
        studies/task4_frontier_heavy-noise.json

The copy is kept in --dir: run again with the same --dir to queue more rows on it (the
experiments already run are kept, and the frontier is read from all of them).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from scratch import ENV, REPO, scratch_copy, sh  # noqa: E402
from vvpipe.standin_profiles import PROFILES  # noqa: E402


def prepared_copy(root: Path, profile: str) -> Path:
    """The repository copy on ``profile``'s stand-in, its task 4 inputs built and committed so
    that every experiment starts from them."""
    repo = root / "repo"
    ready = f"stand-in profile {profile}, task 4 inputs"
    if (repo / ".git").is_dir() and subprocess.run(
            ["git", "log", "-1", "--format=%s"], cwd=repo, capture_output=True,
            text=True).stdout.strip() == ready:
        return repo
    if repo.exists():
        shutil.rmtree(repo)  # an earlier call stopped before its inputs were committed
    scratch_copy(root)
    sh(repo, sys.executable, "-m", "vvpipe.standin", "--profile", profile)
    sh(repo, "git", "init", "-q")
    sh(repo, "dvc", "add", "-q", "data.tar.xz")
    # DVCLive, in the training stage, needs a commit to start from.
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", f"stand-in profile {profile}")
    sh(repo, "dvc", "repro", "-q", "train_task4_reference", "engineer@task4")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", ready)
    return repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", choices=list(PROFILES))
    parser.add_argument("--rows", default="default margin",
                        help="the sweep's row groups (scripts/task4_sweep.sh ROWS)")
    parser.add_argument("--dir", type=Path, required=True, help="where the copy is kept")
    parser.add_argument("--study", help="the study's name (default: task4_frontier_PROFILE)")
    args = parser.parse_args()

    repo = prepared_copy(args.dir, args.profile)
    print(f"profile {args.profile} in {repo}: queueing rows {args.rows}", flush=True)
    # Not through sh(): the queue prints its progress as it goes.
    env = {**ENV, "PYTHONPATH": str(repo), "ROWS": args.rows}
    for script in ("task4_sweep.sh", "run_queue.sh"):
        if subprocess.run(["bash", f"scripts/{script}"], cwd=repo, env=env).returncode:
            raise SystemExit(f"scripts/{script} failed in {repo}")
    study = args.study or f"task4_frontier_{args.profile}"
    print(sh(repo, sys.executable, "scripts/task4_frontier.py", "--study", study,
             "--profile", args.profile))
    shutil.copy2(repo / "studies" / f"{study}.json", REPO / "studies" / f"{study}.json")
    shutil.copytree(repo / "studies" / study, REPO / "studies" / study, dirs_exist_ok=True)


if __name__ == "__main__":
    main()
