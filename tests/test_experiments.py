import pytest

from vvpipe.experiments import (Experiment, grouped_by_params, mean_sd, parse_exp_show, summarise,
                                varied_keys)


def state(rev, params=None, metrics=None, error=None, name=None):
    data = None
    if params is not None:
        data = {"rev": rev, "params": {"params.yaml": {"data": params}},
                "metrics": {path: {"data": value} for path, value in (metrics or {}).items()}}
    return {"rev": rev, "name": name, "data": data, "error": error, "experiments": None}


def test_parse_exp_show_keeps_runs_with_results():
    baseline = state("a" * 40, {"task4": {"epochs": 100}}, {"metrics/task4.json": {"accuracy": 0.8}},
                     name="main")
    baseline["experiments"] = [
        {"name": "done", "revs": [state("b" * 40, {"task4": {"epochs": 1}},
                                        {"metrics/task4.json": {"accuracy": 0.5}})]},
        {"name": "queued", "revs": [state("c" * 40, {"task4": {"epochs": 2}})],
         "executor": {"state": "queued"}},
        {"name": "failed", "revs": [state("d" * 40, error={"msg": "boom"})]},
        {"name": "running", "revs": [state("e" * 40, {"task4": {"epochs": 100}},
                                           {"metrics/task4.json": {"accuracy": 0.8}})],
         "executor": {"state": "running"}},
    ]
    experiments = parse_exp_show([baseline])
    assert [e.name for e in experiments] == ["main", "done"]
    assert [e.baseline for e in experiments] == [True, False]
    assert experiments[1].rev == "b" * 40
    assert experiments[1].params["task4"]["epochs"] == 1
    assert experiments[1].metrics["metrics/task4.json"]["accuracy"] == 0.5


def test_runs_are_grouped_by_their_params_whatever_their_names():
    def run(name, seed, lr, swa=True):
        return Experiment(name, {"task2": {"seed": seed, "lr": lr, "swa": {"enabled": swa}}}, {})
    groups = grouped_by_params([run("warty-fish", 1, 0.01), run("sunny-cat", 0, 0.01),
                                run("bold-owl", 0, 0.02), run("calm-elk", 2, 0.02),
                                run("tidy-ant", 0, 0.02, swa=False), run("rerun", 1, 0.01)],
                               "task2")
    assert list(groups) == ["defaults", "lr=0.01", "swa.enabled=False"]
    assert [(seed, e.name) for seed, e in groups["lr=0.01"]] == [(0, "sunny-cat"), (1, "rerun")]
    assert [seed for seed, _ in groups["defaults"]] == [0, 2]
    named = grouped_by_params([run("a", 0, 0.01), run("b", 0, 0.02)], "task2", varied=["lr"])
    assert list(named) == ["lr=0.01", "lr=0.02"]


def test_a_nested_section_groups_by_its_own_keys():
    def run(name, seed, min_steps):
        return Experiment(name, {"engineer": {"task3": {"seed": seed, "min_steps": min_steps},
                                              "task1": {"seed": 0}}}, {})
    groups = grouped_by_params([run("a", 0, 8000), run("b", 1, 8000), run("c", 0, 16000)],
                               "engineer.task3", varied=["min_steps"])
    assert list(groups) == ["min_steps=16000", "min_steps=8000"]
    assert [e.name for _, e in groups["min_steps=8000"]] == ["a", "b"]
    assert varied_keys([run("a", 0, 8000), run("b", 1, 8000), run("c", 0, 16000)],
                       "engineer.task3") == ["min_steps"]


def test_summaries_give_mean_sd_and_count():
    summary = summarise([1.0, 2.0, 3.0, 6.0], {"x": lambda v: v, "missing": lambda v: None,
                                               "some": lambda v: v if v > 1 else None})
    assert summary["x"] == {"mean": 3.0, "sd": pytest.approx(2.160247, abs=1e-6), "n": 4}
    assert summary["missing"] is None
    assert summary["some"]["n"] == 3 and summary["some"]["mean"] == pytest.approx(11 / 3)
    assert mean_sd([0.5]) == {"mean": 0.5, "sd": 0.0}
