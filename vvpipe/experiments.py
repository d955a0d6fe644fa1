"""Comparing DVC experiments: their params and metrics from ``dvc exp show --json``, and the
Pareto front of a two-objective trade-off."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Experiment:
    name: str  # the experiment's name, or the commit for a baseline
    params: dict[str, Any]  # params.yaml
    metrics: dict[str, Any]  # metrics file path -> its contents


def _run(state: dict, name: str) -> Experiment | None:
    """One ``ExpState`` of ``dvc exp show --json``; None while it has no results (queued,
    running or failed)."""
    data = state.get("data") or {}
    metrics = {path: result.get("data") or {}
               for path, result in (data.get("metrics") or {}).items()}
    if state.get("error") or not metrics:
        return None
    params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
    return Experiment(name, params, metrics)


def parse_exp_show(shown: list[dict]) -> list[Experiment]:
    """Every baseline commit and every experiment with its results in ``dvc exp show --json``."""
    runs = []
    for baseline in shown:
        rev = baseline["rev"]
        runs.append(_run(baseline, baseline.get("name") or (rev if rev == "workspace" else rev[:7])))
        for experiment in baseline.get("experiments") or []:
            for state in experiment.get("revs") or []:
                runs.append(_run(state, experiment.get("name") or state["rev"][:7]))
    return [run for run in runs if run is not None]


def load_experiments(*revisions: str) -> list[Experiment]:
    """The experiments of HEAD (and of ``revisions``) as DVC knows them."""
    command = ["dvc", "exp", "show", "--json", *[f"--rev={r}" for r in revisions]]
    return parse_exp_show(json.loads(subprocess.run(command, check=True, capture_output=True,
                                                    text=True).stdout))


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats, minimising the first coordinate and
    maximising the second, sorted by the first."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front
