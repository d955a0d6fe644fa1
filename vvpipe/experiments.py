"""Comparing DVC experiments: their params and metrics from ``dvc exp show --json``, seeded
repeats summarised as mean and sd, and the Pareto front of a two-objective trade-off."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Experiment:
    name: str  # the experiment's name, or the commit for a baseline
    params: dict[str, Any]  # params.yaml
    metrics: dict[str, Any]  # metrics file path -> its contents
    rev: str = ""  # the git commit holding its results

    def file(self, path: str) -> Any:
        """A JSON file the experiment committed (a ``cache: false`` output that is no metric)."""
        shown = subprocess.run(["git", "show", f"{self.rev}:{path}"], check=True,
                               capture_output=True, text=True).stdout
        return json.loads(shown)


def _run(state: dict, name: str) -> Experiment | None:
    """One ``ExpState`` of ``dvc exp show --json``; None while it has no results (queued,
    running or failed)."""
    data = state.get("data") or {}
    metrics = {path: result.get("data") or {}
               for path, result in (data.get("metrics") or {}).items()}
    if state.get("error") or not metrics:
        return None
    params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
    return Experiment(name, params, metrics, state.get("rev") or "")


def parse_exp_show(shown: list[dict]) -> list[Experiment]:
    """Every baseline commit and every experiment with its results in ``dvc exp show --json``."""
    runs = []
    for baseline in shown:
        rev = baseline["rev"]
        runs.append(_run(baseline, baseline.get("name") or (rev if rev == "workspace" else rev[:7])))
        for experiment in baseline.get("experiments") or []:
            # A running experiment shows its workspace, which still holds the baseline's results.
            if (experiment.get("executor") or {}).get("state") not in (None, "success"):
                continue
            for state in experiment.get("revs") or []:
                runs.append(_run(state, experiment.get("name") or state["rev"][:7]))
    return [run for run in runs if run is not None]


def load_experiments(*revisions: str) -> list[Experiment]:
    """The experiments of HEAD (and of ``revisions``) as DVC knows them."""
    # One --rev replaces the default baseline (HEAD), so HEAD is named along with the others.
    command = ["dvc", "exp", "show", "--json",
               *[f"--rev={r}" for r in (("HEAD", *revisions) if revisions else ())]]
    # While queue workers finish experiments, `dvc exp show` can fail on a ref being written.
    for _ in range(3):
        shown = subprocess.run(command, capture_output=True, text=True)
        if shown.returncode == 0:
            return parse_exp_show(json.loads(shown.stdout))
        time.sleep(5)
    raise RuntimeError(f"{' '.join(command)} failed:\n{shown.stderr}")


def mean_sd(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return {"mean": statistics.fmean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0}


def seeded_groups(experiments: Sequence[Experiment], prefix: str
                  ) -> dict[str, list[tuple[int, Experiment]]]:
    """Experiments named ``<prefix><config>-s<seed>``, grouped by config in name order, each
    group sorted by seed. A config run twice with one seed keeps its last run."""
    pattern = re.compile(rf"^{re.escape(prefix)}(?P<config>.+)-s(?P<seed>\d+)$")
    groups: dict[str, dict[int, Experiment]] = {}
    for experiment in experiments:
        match = pattern.match(experiment.name)
        if match:
            groups.setdefault(match["config"], {})[int(match["seed"])] = experiment
    return {config: sorted(runs.items()) for config, runs in sorted(groups.items())}


def summarise(runs: Sequence[Any], fields: dict[str, Callable[[Any], float | None]]
              ) -> dict[str, dict[str, float] | None]:
    """Mean, sd and count ``n`` of each field over the runs that have it (a model that only
    some runs produce); None where no run has it."""
    summary: dict[str, dict[str, float] | None] = {}
    for name, read in fields.items():
        values = [v for v in (read(run) for run in runs) if v is not None]
        summary[name] = {**mean_sd(values), "n": len(values)} if values else None
    return summary
