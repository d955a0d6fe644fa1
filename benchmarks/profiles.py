"""The pipeline's task 1 and task 3 stages on every stand-in profile, each in a scratch copy of
the repository, with the same defaults; beside them the raw-set baseline (the fixed model and
original loader on the training set as the archive gives it).

Writes studies/profiles.json (one entry per profile, merged with the entries already there) and
prints a table. About 15 minutes a profile on 2 cores.

    python benchmarks/profiles.py                       # every profile
    python benchmarks/profiles.py --profiles clean photometric
    python benchmarks/profiles.py --profiles heavy-noise --seed 1   # row "heavy-noise, seed 1"
    python benchmarks/profiles.py --profiles skewed-prior --tasks task1 \
        --set engineer.task1.prior_max_ratio=2   # row "skewed-prior, engineer.task1.prior_max_ratio 2"
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scratch import REPO, scratch_copy, sh  # noqa: E402
from vvpipe.audit import prior_errors  # noqa: E402
from vvpipe.config import read_params  # noqa: E402
from vvpipe.experiments import mean_sd, params_section  # noqa: E402
from vvpipe.standin_profiles import PROFILES  # noqa: E402

TASKS = ("task1", "task3")
# The task whose data a profile changes; the other task's data is the default profile's.
PROFILE_TASKS = {"heavy-noise": ("task1",), "small-thin": ("task3",)}
# What a row's figures depend on besides the stand-in.
PIPELINE_CODE = ("vvpipe", "stages", "dvc.yaml", "params.yaml")


def raw_baseline(repo: Path, task: str) -> dict:
    """The fixed model and the original loaders on the training set as the archive gives it,
    scored on the test set (the stage scripts never train on the raw set)."""
    return json.loads(sh(repo, sys.executable, str(repo / "benchmarks" / "raw_baseline.py"),
                         task).splitlines()[-1])


def set_params(repo: Path, overrides: list[str]) -> None:
    """``KEY=VALUE`` overrides (dotted keys, YAML values) written into the copy's params.yaml,
    as ``dvc exp run -S`` would; a key params.yaml does not hold is an error."""
    if not overrides:
        return
    path = repo / "params.yaml"
    params = read_params(path)
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep:
            raise SystemExit(f"--set {override!r}: want KEY=VALUE")
        parent, _, leaf = key.rpartition(".")
        section = params_section(params, parent)
        if not isinstance(section, dict) or leaf not in section:
            raise SystemExit(f"--set {override!r}: params.yaml has no key {key!r}")
        section[leaf] = yaml.safe_load(value)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def row_name(profile: str, seed: int | None, overrides: list[str]) -> str:
    """The row a run writes: the profile, then what differs from its defaults."""
    return ", ".join([profile, *([f"seed {seed}"] if seed is not None else []),
                      *(override.replace("=", " ", 1) for override in overrides)])


def with_total(timings: dict[str, float]) -> dict[str, float]:
    """``timings`` with ``total`` set to the sum of its other entries."""
    timings["total"] = round(sum(v for k, v in timings.items() if k != "total"), 1)
    return timings


def cpu_model() -> str | None:
    """The CPU the figures were measured on: results differ between vendors."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return None
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")]
    return names[0] if names else None


def cpu_vendor(model: str | None) -> str:
    """The vendor in a CPU's model name: what float results differ by."""
    return next((vendor for vendor in ("Intel", "AMD") if model and vendor in model), "—")


def code_version(repo: Path) -> str:
    """The last commit that changed the pipeline's code or params, "+changes" where the working
    tree's differ from it."""
    commit = sh(repo, "git", "log", "-1", "--format=%h", "HEAD", "--", *PIPELINE_CODE).strip()
    changed = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", *PIPELINE_CODE],
                             cwd=repo).returncode != 0
    return commit + ("+changes" if changed else "")


def collect(repo: Path, timings: dict[str, float], earlier: dict | None = None,
            tasks: tuple[str, ...] = TASKS, raw_baselines: bool = True,
            code: str | None = None) -> dict:
    """One profile's row from a repository whose task 1 and 3 stages have run: the engineered
    figures it wrote, the version of the ``code`` that wrote them, and the raw-set baselines
    (trained here unless ``earlier`` holds them: they depend only on the archive)."""
    entry: dict = {"timings_s": timings}
    cpu = cpu_model()
    manifest = json.loads((repo / "standin" / "manifest.json").read_text())
    for task in tasks:
        if earlier and task in earlier and "raw" in earlier[task]:
            raw = earlier[task]["raw"]
        elif not raw_baselines:
            raw = None
        else:
            start = time.perf_counter()
            raw = raw_baseline(repo, task)
            timings[f"raw baseline {task}"] = round(time.perf_counter() - start, 1)
        metrics = json.loads((repo / "reports" / task / "evaluation.json").read_text())
        engineering = json.loads((repo / "reports" / task / "engineering.json").read_text())
        training = json.loads((repo / "reports" / task / "training.json").read_text())
        # The timing log is not versioned: a fresh checkout of a committed run has none.
        timing_log = repo / "logs" / "timing" / f"train@{task}.json"
        attempt_timings = (json.loads(timing_log.read_text())["attempts"] if timing_log.is_file()
                           else [{"seconds": None}] * len(training["attempts"]))
        matching = engineering["test_matching"] or {}
        entry[task] = {
            "code": code,
            "cpu": cpu,
            "raw": raw,
            "engineered": {"accuracy": metrics["accuracy"],
                           "min_class_recall": metrics["min_class_recall"],
                           "recall_per_class": metrics.get("recall_per_class"),
                           "val_accuracy": metrics["val_accuracy"],
                           "val_matched_accuracy": metrics.get("val_matched_accuracy"),
                           "train_images": metrics["train_samples"],
                           "val_images": metrics["val_samples"],
                           "test_images": metrics["test_samples"]},
            "train_images_raw": engineering["train_images_before"],
            "sizing": engineering["sizing"],
            "classes_cleaned": engineering["classes_cleaned"],
            "ks_sum": matching.get("ks_sum"),
            "degradation_chosen": matching.get("chosen"),
            "shift_measured": matching.get("shift_measured"),
            "ks_sum_raw_vs_test": matching.get("ks_sum_raw_vs_test"),
            "ks_sum_copies_vs_test": matching.get("ks_sum_copies_vs_test"),
            "test_prior_error": prior_errors(engineering["test_prior"], manifest),
            "balanced_to": engineering["sizing"]["balanced_to"],
            "order_attempts": len(training["attempts"]),
            "attempts": [{**{k: a[k] for k in ("attempt", "init_seed", "epochs_run",
                                               "val_accuracy", "min_val_recall", "dead_classes")},
                          "rescued_epochs": sorted(map(int, a.get("rescued_epochs", {}))),
                          "seconds": timing["seconds"]}
                         for a, timing in zip(training["attempts"], attempt_timings)],
            "audit": json.loads((repo / "reports" / task / "audit.json").read_text()),
        }
    entry["timings_s"] = with_total(timings)
    entry["threads"] = int(os.environ.get("OMP_NUM_THREADS", 0)) or None
    entry["cpu"] = cpu  # of the run that wrote the row; each task names its own
    return entry


def run_profile(name: str, keep: bool, root: Path | None = None,
                earlier: dict | None = None, tasks: tuple[str, ...] | None = None,
                seed: int | None = None, overrides: list[str] | None = None,
                raw_baselines: bool = True) -> dict:
    """The profile's stand-in and stages in a scratch copy; ``root`` reuses the copy an earlier,
    interrupted call left (``--keep``), and `dvc repro` goes on from the stages it finished.
    ``tasks`` (default: the profile's) are the tasks run; the row keeps the earlier entry's
    figures of the others; ``seed`` (default: the stand-in's own) draws another archive of the
    profile; ``overrides`` (``KEY=VALUE``) change the copy's params.yaml."""
    tasks = tasks or PROFILE_TASKS.get(name, TASKS)
    resume = root is not None and (root / "repo" / "dvc.lock").is_file()
    root = root or Path(tempfile.mkdtemp(prefix=f"vvpipe-{name}-"))
    try:
        timings: dict[str, float] = {}
        if resume:
            repo, code = root / "repo", None
        else:
            code = code_version(REPO)
            repo = scratch_copy(root)
            set_params(repo, overrides or [])
            start = time.perf_counter()
            sh(repo, sys.executable, "-m", "vvpipe.standin", "--profile", name,
               *(["--seed", str(seed)] if seed is not None else []))
            sh(repo, "git", "init", "-q")
            sh(repo, "dvc", "add", "-q", "data.tar.xz")
            sh(repo, "git", "add", "-A")
            sh(repo, "git", "commit", "-qm", f"stand-in profile {name}")
            timings["stand-in"] = round(time.perf_counter() - start, 1)
        for task in tasks:
            start = time.perf_counter()
            sh(repo, "dvc", "repro", "-q", f"evaluate@{task}", f"audit@{task}")
            timings[f"pipeline {task}"] = round(time.perf_counter() - start, 1)
        entry = collect(repo, timings, earlier, tasks, raw_baselines, code)
        entry["resumed"] = resume
        kept = {task: {"cpu": earlier.get("cpu"), **earlier[task]} for task in TASKS
                if earlier and task in earlier and task not in tasks}
        if kept:
            entry["timings_s"] = with_total({**earlier.get("timings_s", {}),
                                             **entry["timings_s"]})
            entry["carried_from_earlier_run"] = sorted(kept)
        return {**kept, **entry}
    finally:
        if keep:
            print(f"  kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def markdown_table(results: dict) -> str:
    """The README's table: one row per profile and task."""
    lines = ["| profile | task | training images: raw → engineered (SGD steps) | raw baseline "
             "| engineered: test | validation | lowest class recall (test) | attempts "
             "| prior TV error: EM / BBSE / uniform (BBSE passed its check) "
             "| KS sum vs test: raw / copies "
             "| minutes | CPU | code |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, entry in results.items():
        for task in (t for t in TASKS if t in entry):
            t = entry[task]
            prior = t.get("test_prior_error")
            prior_text = (f"{prior['em']:.3f} / {prior['bbse']:.3f} / {prior['uniform']:.3f} "
                          f"({'yes' if prior['acted_on'] else 'no'})" if prior else "—")
            shift = {True: "shift", False: "no shift", None: "?"}[t.get("shift_measured")]
            ks = (f"{t['ks_sum_raw_vs_test']:.2f} / {t['ks_sum_copies_vs_test']:.2f} "
                  f"({shift})" if t.get("ks_sum_copies_vs_test") else "—")
            seconds = entry["timings_s"].get(f"pipeline {task}")
            minutes = f"{seconds / 60:.1f}" if seconds else "—"
            raw = f"{t['raw']['accuracy']:.3f}" if t["raw"] else "—"
            before = t.get("train_images_raw") or t["raw"]["train_images"]
            lines.append(
                f"| `{name}` | {task[-1]} | {before:,} → {t['engineered']['train_images']:,} "
                f"({t['sizing']['total_steps']:,}) | {raw} | **{t['engineered']['accuracy']:.3f}** "
                f"| {t['engineered']['val_accuracy']:.3f} | "
                f"{t['engineered']['min_class_recall']:.2f} | {t.get('order_attempts', '—')} | "
                f"{prior_text} | {ks} | {minutes} | {cpu_vendor(t.get('cpu'))} "
                f"| {t.get('code') or 'earlier'} |")
    return "\n".join(lines)


def seeds_table(results: dict) -> str:
    """Each profile and task over its stand-in seeds (the row "NAME" is seed 0, "NAME, seed N"
    the others; rows with changed params, and figures that do not say which code wrote them,
    are left out): mean ± sd and the worst seed."""
    lines = ["| profile | task | seeds | test accuracy: mean ± sd (lowest) "
             "| lowest class recall (test): mean ± sd (lowest) | attempts per seed "
             "| prior TV error, EM / BBSE: mean (largest); BBSE passed its check | code |",
             "|---|---|---|---|---|---|---|---|"]
    for name in PROFILES:
        rows = {0: results.get(name)} | {
            int(row.rsplit(" ", 1)[1]): entry for row, entry in results.items()
            if row.startswith(f"{name}, seed ") and row.count(",") == 1}
        for task in TASKS:
            runs = {seed: row[task] for seed, row in sorted(rows.items())
                    if row and row.get(task, {}).get("code")}
            if len(runs) < 2:
                continue
            cells = []
            for key in ("accuracy", "min_class_recall"):
                values = [run["engineered"][key] for run in runs.values()]
                spread = mean_sd(values)
                cells.append(f"{spread['mean']:.3f} ± {spread['sd']:.3f} ({min(values):.3f})")
            attempts = " / ".join(str(run.get("order_attempts", "—")) for run in runs.values())
            errors = [run["test_prior_error"] for run in runs.values()
                      if run.get("test_prior_error")]
            prior = ((" / ".join(f"{mean_sd([e[k] for e in errors])['mean']:.3f} "
                                 f"({max(e[k] for e in errors):.3f})" for k in ("em", "bbse"))
                      + f"; {sum(e['acted_on'] for e in errors)} of {len(errors)}")
                     if errors else "—")
            codes = ", ".join(sorted({run["code"] for run in runs.values()}))
            lines.append(f"| `{name}` | {task[-1]} | {', '.join(map(str, runs))} | {cells[0]} "
                         f"| {cells[1]} | {attempts} | {prior} | {codes} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=list(PROFILES))
    parser.add_argument("--out", type=Path, default=REPO / "studies" / "profiles.json")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copies")
    parser.add_argument("--resume", type=Path, metavar="DIR",
                        help="go on in the scratch copy an interrupted --keep run left in DIR "
                             "(one profile)")
    parser.add_argument("--retrain-raw", action="store_true",
                        help="train the raw-set baselines again even where the results hold them")
    parser.add_argument("--seed", type=int,
                        help="the stand-in's seed: another archive of each profile, in a row "
                             "of its own (\"NAME, seed N\")")
    parser.add_argument("--table", action="store_true",
                        help="only print the Markdown table of the results already written")
    parser.add_argument("--seeds-table", action="store_true",
                        help="only print each profile's spread over the stand-in seeds run")
    parser.add_argument("--from-workspace", metavar="PROFILE", choices=list(PROFILES),
                        help="instead: take this profile's row from a repository (--repo, this "
                             "one by default) whose `dvc repro` has run on that stand-in")
    parser.add_argument("--repo", type=Path, default=REPO, help="with --from-workspace")
    parser.add_argument("--name", help="with --from-workspace: the row's name (default: PROFILE)")
    parser.add_argument("--tasks", nargs="+", choices=TASKS,
                        help="the tasks to run, or with --from-workspace to read (default: the "
                             "profile's); a row keeps its other tasks' earlier figures")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="params.yaml keys changed in the scratch copies (dotted, like "
                             "`dvc exp run -S`), in a row of their own")
    parser.add_argument("--no-raw", action="store_true",
                        help="do not train the raw-set baselines (a row keeps those it holds)")
    args = parser.parse_args()

    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if args.table or args.seeds_table:
        print(markdown_table(results) if args.table else seeds_table(results))
        return
    runs = ({args.name or args.from_workspace: lambda: collect(
                args.repo, {}, results.get(args.from_workspace),
                tuple(args.tasks or PROFILE_TASKS.get(args.from_workspace, TASKS)), not args.no_raw,
                code_version(args.repo))}
            if args.from_workspace else
            {row: lambda name=name, row=row: run_profile(
                name, args.keep, args.resume, None if args.retrain_raw else results.get(row),
                tuple(args.tasks) if args.tasks else None, args.seed, args.overrides,
                not args.no_raw)
             for name in args.profiles
             for row in [row_name(name, args.seed, args.overrides)]})
    for name, run in runs.items():
        print(f"profile {name} ...", file=sys.stderr, flush=True)
        entry = run()
        # Re-read before writing: other profiles may be running beside this one.
        results = json.loads(args.out.read_text()) if args.out.is_file() else {}
        results[name] = entry
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        for task in (t for t in TASKS if t in results[name]):
            t = results[name][task]
            raw = f"{t['raw']['accuracy']:.4f}" if t["raw"] else "not run"
            print(f"{name:17s} {task}: raw {raw} → engineered "
                  f"{t['engineered']['accuracy']:.4f} (val {t['engineered']['val_accuracy']:.4f}, "
                  f"lowest class recall {t['engineered']['min_class_recall']:.3f}); "
                  f"{t['engineered']['train_images']} images", flush=True)
        print(f"  {results[name]['timings_s']}", flush=True)


if __name__ == "__main__":
    main()
