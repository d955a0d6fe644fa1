from vvpipe.experiments import parse_exp_show, pareto_front


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
    ]
    experiments = parse_exp_show([baseline])
    assert [e.name for e in experiments] == ["main", "done"]
    assert experiments[1].params["task4"]["epochs"] == 1
    assert experiments[1].metrics["metrics/task4.json"]["accuracy"] == 0.5


def test_pareto_front_minimises_the_first_and_maximises_the_second():
    points = [(1.0, 0.90), (0.1, 0.80), (0.5, 0.85), (0.6, 0.84), (0.1, 0.70), (2.0, 0.90)]
    assert pareto_front(points) == [1, 2, 0]
