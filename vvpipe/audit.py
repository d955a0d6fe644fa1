"""Scoring the analysis against the stand-in's fault manifest: precision and recall per fault.

Only this module reads the manifest, and only to score; the analysis and the engineering never
see it.
"""

from __future__ import annotations

LABEL_FAULTS = ("label_random", "label_lookalike", "label_conflict", "label_folder_swap")
IMAGE_FAULTS = ("blank", "saturated", "noise", "inverted")


def _scores(truth: set[str], flagged: set[str]) -> dict:
    hits = len(truth & flagged)
    precision = hits / len(flagged) if flagged else (1.0 if not truth else 0.0)
    recall = hits / len(truth) if truth else (1.0 if not flagged else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"truth": len(truth), "flagged": len(flagged), "true_positives": hits,
            "precision": precision, "recall": recall, "f1": f1}


def audit(findings: list[dict], manifest: dict, task: str) -> dict:
    """Per fault type: how many the manifest holds, how many the analysis flagged, precision,
    recall and F1. Label faults also get the recall of each kind of wrong label."""
    prefix = f"{task}/train/"
    faults = {path.removeprefix(prefix): entry for path, entry in manifest["files"].items()
              if path.startswith(prefix)}
    label_faults = {f for f, e in faults.items() if set(e["faults"]) & set(LABEL_FAULTS)}
    flagged_labels = {r["file"] for r in findings if r["label_issue"]}
    result = {"label_errors": _scores(label_faults, flagged_labels)}
    result["label_errors"]["recall_by_kind"] = {
        kind: _scores({f for f, e in faults.items() if kind in e["faults"]}, flagged_labels)["recall"]
        for kind in LABEL_FAULTS if any(kind in e["faults"] for e in faults.values())}
    copies = {f for f, e in faults.items() if "duplicate" in e["faults"]}
    sources = {faults_source.removeprefix(prefix) for f in copies
               if (faults_source := faults[f].get("duplicate_of"))}
    result["duplicates"] = _scores(copies | sources,
                                   {r["file"] for r in findings if r["duplicate_group"] >= 0})
    for kind in IMAGE_FAULTS:
        result[kind] = _scores({f for f, e in faults.items() if kind in e["faults"]},
                               {r["file"] for r in findings if r[kind]})
    corrupted = [k for k in ("blank", "saturated", "noise") if result[k]["truth"]]
    result["corrupted"] = _scores(
        {f for f, e in faults.items() if set(e["faults"]) & set(corrupted)},
        {r["file"] for r in findings if any(r[k] for k in ("blank", "saturated", "noise"))})
    return result


def true_test_prior(manifest: dict) -> list[float]:
    """The test sets' class prior as the stand-in was built (both tasks share one test draw)."""
    config = manifest["config"]
    shares = config.get("test_class_share") or [1.0] * 10
    total = sum(shares)
    return [s / total for s in shares]


def prior_errors(engineering_prior: dict, manifest: dict) -> dict:
    """Total-variation distance from the true test prior of the estimate engineer acted on
    (BBSE) and of analyze's EM estimate, and of the uniform prior engineer falls back to."""
    truth = true_test_prior(manifest)

    def distance(estimate: dict) -> float:
        return round(0.5 * sum(abs(estimate[str(c)] - t) for c, t in enumerate(truth)), 4)

    return {"truth": [round(t, 4) for t in truth],
            "bbse": distance(engineering_prior["estimate"]),
            "em": distance(engineering_prior["em_estimate"]),
            "uniform": distance({str(c): 0.1 for c in range(10)}),
            "acted_on": engineering_prior["differs_from_uniform"]}
