"""Running the pipeline in a scratch copy of the repository, for the benchmarks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
       "GIT_AUTHOR_NAME": "profiles", "GIT_AUTHOR_EMAIL": "profiles@localhost",
       "GIT_COMMITTER_NAME": "profiles", "GIT_COMMITTER_EMAIL": "profiles@localhost",
       "DVC_NO_ANALYTICS": "1", "TQDM_DISABLE": "1"}


def sh(cwd: Path, *command: str) -> str:
    # The copy's own package first: the editable install points at this checkout, which may
    # change while a long run goes on.
    env = {**ENV, "PYTHONPATH": str(cwd)}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed in {cwd}:\n{result.stdout[-3000:]}\n"
                           f"{result.stderr[-3000:]}")
    return result.stdout


def scratch_copy(root: Path) -> Path:
    """The project's files (not its data, lock, metrics or outputs) in a fresh git repo."""
    copy = root / "repo"
    files = sh(REPO, "git", "ls-files", "--cached", "--others", "--exclude-standard").split("\n")
    for name in filter(None, files):
        if name in ("dvc.lock", "data.dvc") or name.startswith(("metrics/", "reports/")) or \
                not (REPO / name).is_file():
            continue
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, copy / name)
    return copy
