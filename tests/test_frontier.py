import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.nn import functional

from vvpipe.evaluation import Predictions, mean_logit_size
from vvpipe.frontier import (bracket_on_limit, frontier_choice, logit_size_bound,
                             temperature_curve, temperature_for, worst_over_profiles)


def mean_ce_and_size(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    return functional.cross_entropy(logits, labels).item(), logits.abs().mean().item()


@pytest.mark.parametrize("cross_entropy", [0.01, 0.147, 0.5, 1.0, 2.0])
def test_the_bound_is_reached_by_a_lone_target_logit(cross_entropy):
    margin = math.log(9 / math.expm1(cross_entropy))
    logits = torch.zeros(4, 10, dtype=torch.float64)
    labels = torch.tensor([0, 3, 7, 9])
    logits[torch.arange(4), labels] = margin
    ce, size = mean_ce_and_size(logits, labels)
    assert ce == pytest.approx(cross_entropy, rel=1e-9)
    assert size == pytest.approx(logit_size_bound(cross_entropy), rel=1e-9)


def test_random_logits_never_beat_the_bound():
    generator = torch.Generator().manual_seed(0)
    for trial in range(2000):
        n = int(torch.randint(1, 64, (1,), generator=generator))
        scale = float(10 ** (torch.rand(1, generator=generator) * 4 - 2))
        logits = torch.randn(n, 10, generator=generator, dtype=torch.float64) * scale
        logits += torch.randn(n, 1, generator=generator, dtype=torch.float64) * scale  # offsets
        labels = torch.randint(0, 10, (n,), generator=generator)
        if trial % 2:  # confident, mostly right: the regime of a trained model
            logits[torch.arange(n), labels] += scale * 3
        ce, size = mean_ce_and_size(logits, labels)
        if ce == 0:  # the loss of huge margins rounds to 0, whose bound is infinite
            continue
        assert size >= logit_size_bound(ce) - 1e-12, (trial, ce, size)


def test_the_bound_falls_to_zero_at_uniform_guessing():
    values = [logit_size_bound(c) for c in (0.05, 0.147, 0.5, 1.0, 2.0, math.log(10), 3.0)]
    assert values == sorted(values, reverse=True)
    assert values[-2] == values[-1] == 0.0
    assert logit_size_bound(0.147) == pytest.approx(0.404, abs=1e-3)  # ln(9 / 0.1584) / 10
    assert logit_size_bound(0.0) == math.inf  # a zero loss needs an infinite margin


def trained_like_logits(confidence: float) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 10, (500,), generator=generator)
    logits = torch.randn(500, 10, generator=generator, dtype=torch.float64)
    logits[torch.arange(500), labels] += confidence
    return logits, labels


def test_the_temperature_reaches_the_target_with_the_smallest_logits():
    logits, labels = trained_like_logits(confidence=4.0)
    reference_ce = functional.cross_entropy(logits, labels).item()
    target = reference_ce * 1.5
    temperature = temperature_for(logits, labels, target)
    assert temperature > 1
    assert functional.cross_entropy(logits / temperature, labels).item() == pytest.approx(
        target, rel=1e-6)
    # Any larger T (smaller logits) has a higher cross-entropy.
    assert functional.cross_entropy(logits / (temperature * 1.01), labels).item() > target


def test_an_overconfident_model_is_cooled_on_the_far_side_of_its_best_temperature():
    logits, labels = trained_like_logits(confidence=4.0)
    logits = logits * 20  # overconfident: dividing by T first lowers its cross-entropy
    scanned = {t / 10: functional.cross_entropy(logits / (t / 10), labels).item()
               for t in range(10, 400)}
    calibrating = min(scanned, key=scanned.get)
    raw = functional.cross_entropy(logits, labels).item()
    assert calibrating > 2 and scanned[calibrating] < raw
    target = (scanned[calibrating] + raw) / 2
    temperature = temperature_for(logits, labels, target)
    cooled = functional.cross_entropy(logits / temperature, labels).item()
    assert cooled == pytest.approx(target, rel=1e-6)
    assert temperature > calibrating  # the far side, not between 1 and it


def test_an_unreachable_cross_entropy_has_no_temperature():
    logits, labels = trained_like_logits(confidence=1.0)
    assert temperature_for(logits, labels, 1e-4) is None
    assert temperature_for(logits, labels, math.log(10)) == math.inf


def test_the_temperature_curve_divides_the_logits():
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(300, 10, generator=generator) * 4
    labels = torch.randint(0, 10, (300,), generator=generator)
    predictions = Predictions(logits, labels, [256, 44])
    curve = temperature_curve(predictions, (1.0, 2.0, 4.0))
    assert [point["temperature"] for point in curve] == [1.0, 2.0, 4.0]
    assert curve[0]["cross_entropy"] == pytest.approx(
        functional.cross_entropy(logits.double(), labels).item())
    assert curve[0]["mean_logit_size"] == pytest.approx(mean_logit_size(predictions))
    assert curve[1]["mean_logit_size"] == pytest.approx(curve[0]["mean_logit_size"] / 2)
    assert curve[2]["cross_entropy"] == pytest.approx(
        functional.cross_entropy(logits.double() / 4, labels).item())


def test_the_default_is_the_smallest_logits_within_the_loss_and_accuracy_limits():
    rows = [
        {"name": "mild", "cross_entropy_change": 0.01, "accuracy_change": 0.0,
         "logit_size_ratio": 0.7},
        {"name": "strong", "cross_entropy_change": 0.045, "accuracy_change": -0.004,
         "logit_size_ratio": 0.55},
        {"name": "too-lossy", "cross_entropy_change": 0.051, "accuracy_change": 0.0,
         "logit_size_ratio": 0.4},
        {"name": "too-inaccurate", "cross_entropy_change": 0.0, "accuracy_change": -0.006,
         "logit_size_ratio": 0.3},
    ]
    assert frontier_choice(rows)["name"] == "strong"
    assert frontier_choice(rows, max_cross_entropy_change=0.02)["name"] == "mild"
    assert frontier_choice(rows[2:]) is None


def test_the_default_across_profiles_is_judged_by_its_worst_profile():
    def row(name, change, accuracy, ratio):
        return {"name": name, "cross_entropy_change": change, "accuracy_change": accuracy,
                "logit_size_ratio": ratio}

    profiles = {
        # "margin" is the smaller on the first profile but breaks the loss limit on the second.
        "default": [row("plain", 0.0, 0.0, 0.40), row("margin", 0.02, 0.0, 0.28),
                    row("only-here", 0.0, 0.0, 0.10)],
        "noisy": [row("plain", 0.03, -0.002, 0.45), row("margin", 0.08, -0.001, 0.30)],
    }
    worst = worst_over_profiles(profiles)
    assert [r["name"] for r in worst] == ["margin", "plain"]  # only losses run on both
    assert worst[1] == row("plain", 0.03, -0.002, 0.45)
    assert frontier_choice(worst)["name"] == "plain"
    assert frontier_choice(worst, max_cross_entropy_change=0.1)["name"] == "margin"


def test_the_bracket_keeps_the_last_value_within_the_limit_and_the_first_past_it():
    def point(change, ratio):
        return {"cross_entropy_change": change, "logit_size_ratio": ratio}

    # A cap on the target logit: the smaller the margin m, the smaller the logits, the larger
    # the loss. m = 6 is the smallest within +5 %, m = 5 the first past it.
    points = {4.0: point(0.78, 0.26), 5.0: point(0.29, 0.31), 6.0: point(0.04, 0.37),
              7.0: point(0.02, 0.40), 8.0: point(-0.01, 0.41)}
    kept, losers = bracket_on_limit(points)
    assert kept == [5.0, 6.0]
    assert losers == [4.0, 7.0, 8.0]
    # The knob's order does not matter, only the logit sizes the runs reached.
    assert bracket_on_limit(dict(reversed(points.items()))) == (kept, losers)
    assert bracket_on_limit(points, max_cross_entropy_change=0.3) == ([4.0, 5.0], [6.0, 7.0, 8.0])
    # Every value within the limit: the smallest logits alone; every value past it: the nearest.
    assert bracket_on_limit(points, max_cross_entropy_change=1.0) == ([4.0], [5.0, 6.0, 7.0, 8.0])
    assert bracket_on_limit(points, max_cross_entropy_change=-0.5) == ([8.0], [4.0, 5.0, 6.0, 7.0])


def test_the_choice_reads_studies_of_one_profile_as_one_frontier(tmp_path):
    def summary(value):
        return {"mean": value, "sd": 0.0, "n": 3}

    def row(name, change, ratio):
        return {"name": name, "seeds": 3, "cross_entropy_change": summary(change),
                "accuracy_change": summary(0.0), "logit_size_ratio": summary(ratio)}

    def study(name, profile, rows, reference_ce=0.17):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"profile": profile, "rows": rows, "reference": {
            "seeds": 3, "val_cross_entropy": summary(reference_ce)}}))
        return str(path)

    # A new member's bracket on each profile beside the earlier study of that profile: the
    # earlier default is in the first pair, the new member in the second, and the rule sees both.
    studies = [study("old", "default", [row("shipped", 0.02, 0.33)]),
               study("old-noisy", "noisy", [row("shipped", 0.03, 0.34)]),
               study("new", "default", [row("member", 0.01, 0.31)]),
               study("new-noisy", "noisy", [row("member", 0.04, 0.32)])]
    script = Path(__file__).resolve().parents[1] / "scripts" / "task4_frontier.py"
    env = {**os.environ, "PYTHONPATH": str(script.parents[1])}
    done = subprocess.run([sys.executable, str(script), "--choose", *studies], cwd=tmp_path,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    choice = json.loads((tmp_path / "studies" / "task4_choice.json").read_text())
    assert sorted(choice["per_profile"]) == ["default", "noisy"]
    assert [r["name"] for r in choice["worst"]] == ["member", "shipped"]
    assert choice["chosen"]["name"] == "member"
    assert choice["chosen"]["logit_size_ratio"] == 0.32

    # Another reference on one profile is another run of it: its rows cannot be merged.
    other = study("other", "default", [row("member", 0.0, 0.30)], reference_ce=0.2)
    refused = subprocess.run([sys.executable, str(script), "--choose", *studies, other],
                             cwd=tmp_path, env=env, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "other and old are both on profile default" in refused.stderr
