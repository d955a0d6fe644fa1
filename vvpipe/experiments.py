"""Comparing DVC experiments: their params and metrics from ``dvc exp show --json``, and the
seeded repeats of one configuration grouped by their params and summarised as mean and sd."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any


@dataclass
class Experiment:
    name: str  # the experiment's name, or the commit for a baseline
    params: dict[str, Any]  # params.yaml
    metrics: dict[str, Any]  # metrics file path -> its contents
    rev: str = ""  # the git commit holding its results
    baseline: bool = False  # a commit's own results (what `make run` committed), no experiment

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
        own = _run(baseline, baseline.get("name") or (rev if rev == "workspace" else rev[:7]))
        runs.append(own and replace(own, baseline=True))
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


def _flat(values: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def params_section(params: dict[str, Any], section: str) -> dict[str, Any]:
    """``params[a][b]`` for the section ``a.b`` (empty where it is absent)."""
    for key in section.split("."):
        params = params.get(key) or {}
    return params


def varied_keys(experiments: Sequence[Experiment], section: str,
                seed_key: str = "seed") -> list[str]:
    """The keys of ``params.yaml:section`` (seed aside) whose values differ between experiments:
    labels that name every group, the baseline's too, where a majority cannot say which is
    the default (two groups)."""
    settings = [_flat(params_section(e.params, section)) for e in experiments]
    return sorted(key for key in set().union(*settings) if key != seed_key and
                  len({repr(one.get(key)) for one in settings}) > 1)


def grouped_by_params(experiments: Sequence[Experiment], section: str, seed_key: str = "seed",
                      varied: Sequence[str] | None = None) -> dict[str, list[tuple[int, Experiment]]]:
    """Experiments grouped by their settings of ``params.yaml:section`` (a dotted path, such as
    ``engineer.task3``, names a nested one), seed aside: the repeats of one configuration,
    however DVC named them (a grid sweep names them at random). A group
    is labelled by the keys that set it apart from most groups (``varied`` names the keys to
    show instead), ``defaults`` when none do; groups come in label order, each sorted by seed.
    A configuration run twice with one seed keeps its last run."""
    configs: dict[str, dict[str, Any]] = {}
    groups: dict[str, dict[int, Experiment]] = {}
    for experiment in experiments:
        settings = _flat(params_section(experiment.params, section))
        seed = settings.pop(seed_key, 0)
        key = repr(sorted(settings.items()))
        configs[key] = settings
        groups.setdefault(key, {})[int(seed)] = experiment
    labels = {key: _label(settings, list(configs.values()), varied)
              for key, settings in configs.items()}
    return {labels[key]: sorted(groups[key].items()) for key in sorted(groups, key=labels.get)}


def _label(settings: dict[str, Any], every: list[dict[str, Any]],
           varied: Sequence[str] | None) -> str:
    def most_common(name: str) -> Any:
        values = [repr(config.get(name)) for config in every]
        return max(set(values), key=values.count)

    names = varied if varied is not None else sorted(settings)
    shown = [f"{name}={settings.get(name)}" for name in names
             if varied is not None or repr(settings.get(name)) != most_common(name)]
    return " ".join(shown) or "defaults"


def summarise(runs: Sequence[Any], fields: dict[str, Callable[[Any], float | None]]
              ) -> dict[str, dict[str, float] | None]:
    """Mean, sd and count ``n`` of each field over the runs that have it (a model that only
    some runs produce); None where no run has it."""
    summary: dict[str, dict[str, float] | None] = {}
    for name, read in fields.items():
        values = [v for v in (read(run) for run in runs) if v is not None]
        summary[name] = {**mean_sd(values), "n": len(values)} if values else None
    return summary
