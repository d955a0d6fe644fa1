"""Smoke test: the whole `dvc repro` graph on a tiny stand-in in a temporary copy of the repo,
then an experiment with `dvc exp run -S`, then bad input."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from vvpipe.evaluation import HEADLINE

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
       "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
       "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
       "DVC_NO_ANALYTICS": "1"}


def sh(cwd: Path, *command: str, check: bool = True, env: dict | None = None
       ) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env={**ENV, **(env or {})}, capture_output=True,
                            text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def set_params(repo: Path, **sections: dict) -> None:
    def merge(into: dict, values: dict) -> None:
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    params = yaml.safe_load((repo / "params.yaml").read_text())
    merge(params, sections)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A copy of the project's files (not its data, lock or metrics) on a tiny stand-in."""
    copy = tmp_path_factory.mktemp("pipeline") / "repo"
    files = sh(REPO, "git", "ls-files", "--cached", "--others", "--exclude-standard").stdout.split()
    for name in files:
        if name in ("dvc.lock", "data.dvc") or name.startswith("metrics/") or \
                not (REPO / name).is_file():
            continue
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, copy / name)
    sh(copy, sys.executable, "-m", "vvpipe.standin", "--digits-per-class", "10")
    # One epoch: the size rule is off, or it would grow the set to 8,000 batches; the sets stay
    # tiny (balanced cleaned images only) so that task 2's 100-epoch resume test stays quick.
    # Flagged labels are kept: on 10 digits a class the label check thins out to one image has
    # none left for validation, which task 2 refuses.
    set_params(copy, task1={"epochs": 1}, task2={"epochs": 2}, task3={"epochs": 1},
               task4={"epochs": 1}, analyze={"cv_steps": 20, "cv_folds": 2},
               engineer={task: {"min_steps": 0, "matched_share": 0.0, "label_errors": "keep"}
                         for task in ("task1", "task3")})
    sh(copy, "git", "init", "-q")
    sh(copy, "dvc", "add", "-q", "data.tar.xz")
    sh(copy, "git", "add", "-A")
    sh(copy, "git", "commit", "-qm", "tiny")
    return copy


def test_repro_runs_the_whole_graph_and_writes_metrics(repo):
    result = sh(repo, "dvc", "repro")
    for stage in ("extract", "prepare@task1", "analyze@task1", "analyze@task3", "engineer@task1",
                  "engineer@task2", "engineer@task3", "engineer@task4", "audit@task1",
                  "audit@task3", "train@task3", "evaluate@task1", "evaluate@task3", "train_task2",
                  "evaluate_task2", "train_task4_reference", "train_task4", "evaluate_task4"):
        assert f"Running stage '{stage}'" in result.stdout
    inventory = json.loads((repo / "reports/inventory.json").read_text())
    assert inventory["archive"]["kind"] == "stand-in"
    for task in ("task1", "task3"):
        headline = json.loads((repo / "metrics" / f"{task}.json").read_text())
        metrics = json.loads((repo / "reports" / task / "evaluation.json").read_text())
        assert headline == {key: metrics[key] for key in HEADLINE}
        assert metrics["test_samples"] == inventory["tasks"][task]["test"]["images"] == 20
        engineering = json.loads((repo / "reports" / task / "engineering.json").read_text())
        assert engineering["train_images_before"] == inventory["tasks"][task]["train"]["images"]
        assert metrics["train_samples"] == engineering["train_images_after"]
        assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["cross_entropy"] > 0
        assert metrics["epochs"] == 1 and metrics["archive"] == inventory["archive"]
        curve = (repo / "dvclive" / task / "plots/metrics/val_accuracy.tsv").read_text().split()
        assert curve[:2] == ["step", "val_accuracy"] and curve[2] == "1"
        assert (repo / "reports" / task / "confusion.csv").read_text().count("\n") == 21
        # The choices were made without test labels: the prepared file holds none.
        assert torch.load(repo / "prepared" / f"{task}.pt")["test"]["labels"] is None
        assert metrics["val_samples"] == engineering["validation"]["images"] > 0
        assert 0 <= metrics["min_class_recall"] <= 1 and 0 <= metrics["val_accuracy"] <= 1
        training = json.loads((repo / "reports" / task / "training.json").read_text())
        assert 1 <= len(training["attempts"]) <= training["order_attempts"] == 5
        assert training["val_images"] > 0 and training["planned_steps"] >= 1
        assert engineering["sizing"]["total_steps"] == -(-metrics["train_samples"] // 256)
    for task in ("task1", "task3"):
        audit = json.loads((repo / "reports" / task / "audit.json").read_text())
        assert audit["skipped"] is False and audit["label_errors"]["truth"] > 0
        assert 0 <= audit["label_errors"]["recall"] <= 1
        engineering = json.loads((repo / "reports" / task / "engineering.json").read_text())
        assert engineering["test_images_in_training_set"] == 0
        assert sum(engineering["classes_after"].values()) == engineering["train_images_after"]
        assert engineering["test_split_sha256"] == inventory["tasks"][task]["test"]["sha256"]
        assert (repo / "reports" / task / "analysis/label_issues.png").stat().st_size > 0
    task2 = json.loads((repo / "reports/task2/evaluation.json").read_text())
    assert {"final", "best", "swa"} <= set(task2) and task2["training"]["epochs_run"] == 2
    for model in ("final", "best", "swa"):
        shown = json.loads((repo / "metrics/task2" / f"{model}.json").read_text())
        assert shown == {key: task2[model][key] for key in HEADLINE}
    task4 = json.loads((repo / "reports/task4/evaluation.json").read_text())
    task4_headline = json.loads((repo / "metrics/task4.json").read_text())
    assert task4_headline["logit_size_ratio"] == task4["logit_size_ratio"]
    assert set(task4_headline) == {*HEADLINE, "logit_size_ratio", "accuracy_change",
                                   "cross_entropy_change"}
    for figures in (task4, task4["reference"]):
        assert figures["test_samples"] == 20 and figures["mean_logit_size"] > 0
        assert figures["max_abs_logit"] >= figures["logit_norm_p99"] / 10 ** 0.5
    assert task4["logit_size_ratio"] == pytest.approx(
        task4["mean_logit_size"] / task4["reference"]["mean_logit_size"])
    curve = (repo / "dvclive/task4/chosen/plots/metrics/val_logit_size.tsv").read_text().split()
    assert curve[:2] == ["step", "val_logit_size"] and float(curve[3]) > 0
    # One definition of the logit size: the last curve point is the metric of the same weights.
    assert float(curve[-1]) == pytest.approx(task4["validation"]["chosen"]["mean_logit_size"])
    training = json.loads((repo / "reports/task4/training_chosen.json").read_text())
    assert task4["status"] == "completed" and task4["train_samples"] == training["train_images"]
    temperatures = json.loads((repo / "reports/task4/temperature.json").read_text())
    one = next(point for point in temperatures if point["temperature"] == 1.0)
    assert one["mean_logit_size"] == pytest.approx(
        task4["validation"]["reference"]["mean_logit_size"])
    plots = json.loads(sh(repo, "dvc", "plots", "show", "--json").stdout)
    assert {"training loss", "validation accuracy", "confusion task1",
            "task4 logit size", "task4 temperature baseline"} <= set(plots["data"])

    again = sh(repo, "dvc", "repro")
    assert "Running stage" not in again.stdout and "up to date" in again.stdout
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "baseline")


def test_the_plots_page_draws_every_declared_plot_offline(repo):
    result = sh(repo, sys.executable, "scripts/plots_page.py")
    declared = json.loads(sh(repo, "dvc", "plots", "show", "--json").stdout)["data"]
    assert f"{len(declared)} plots, each with data" in result.stdout
    page = (repo / "dvc_plots/index.html").read_text()
    # Nothing to fetch: the page carries Vega itself and names no other host.
    assert "window.vegaEmbed=" in page and "https://cdn." not in page and "<script src" not in page
    assert page.count("vegaEmbed('#") == sum(r[0]["type"] == "vega" for r in declared.values())


TRAINING_STAGES = ("train@task1", "train_task2", "train_task4")


def test_a_rerun_of_a_committed_run_leaves_git_status_clean(repo):
    """What a fresh clone's `make run` does to a commit that holds its results, stage by stage:
    the same inputs give the same outputs, byte for byte, and the run's timings go to the
    untracked logs/timing/, so neither dvc.lock nor any tracked report changes."""
    assert sh(repo, "git", "status", "--porcelain").stdout == ""
    rerun = sh(repo, "dvc", "repro", "--force", "--single-item", *TRAINING_STAGES)
    assert rerun.stdout.count("Running stage") == len(TRAINING_STAGES)
    assert sh(repo, "git", "status", "--porcelain").stdout == ""
    assert "up to date" in sh(repo, "dvc", "status").stdout
    for name in ("train@task1", "train_task2", "train_task4_chosen"):
        timing = json.loads((repo / "logs/timing" / f"{name}.json").read_text())
        seconds = timing.get("seconds", timing.get("wall_seconds"))
        assert seconds > 0 and f"{name}: " in rerun.stdout


def test_an_experiment_shows_in_exp_show_and_metrics_diff(repo):
    sh(repo, "dvc", "exp", "run", "-S", "task1.epochs=2", "-n", "two-epochs")
    shown = json.loads(sh(repo, "dvc", "exp", "show", "--json").stdout)
    experiments = [e for baseline in shown for e in (baseline.get("experiments") or [])]
    params = {e["name"]: run["data"]["params"]["params.yaml"]["data"]["task1"]["epochs"]
              for e in experiments for run in e["revs"]}
    assert params == {"two-epochs": 2}
    diff = json.loads(sh(repo, "dvc", "metrics", "diff", "--json").stdout)
    assert set(diff) <= {"metrics/task1.json"}  # nothing but task 1 re-ran
    params_diff = json.loads(sh(repo, "dvc", "params", "diff", "--json").stdout)
    assert params_diff["params.yaml"]["task1.epochs"] == {"old": 1, "new": 2, "diff": 1}
    sh(repo, "git", "reset", "--hard", "-q")  # back to the baseline commit
    sh(repo, "dvc", "checkout", "-q")


# What each change invalidates, as a user of the pipeline should expect it: a params key
# re-runs the stages that read it, an edit to a vvpipe module the stages that import it. The
# table is written out, not derived from dvc.yaml, so a stage that gains an unneeded dependency
# (or loses a needed one) fails here.
EXTRACT, CHECK = {"extract"}, {"check_params"}
PREPARE = {"prepare@task1", "prepare@task3"}
ANALYZE = {"analyze@task1", "analyze@task3"}
ENGINEER = {"engineer@task1", "engineer@task2", "engineer@task3", "engineer@task4"}
AUDIT = {"audit@task1", "audit@task3"}
TASK2 = {"train_task2", "evaluate_task2"}
TASK4 = {"train_task4_reference", "train_task4", "evaluate_task4"}
TRAIN = {"train@task1", "train@task3", "train_task2", "train_task4_reference", "train_task4"}
EVALUATE = {"evaluate@task1", "evaluate@task3", "evaluate_task2", "evaluate_task4"}
EVERY_STAGE = CHECK | EXTRACT | PREPARE | ANALYZE | ENGINEER | AUDIT | TRAIN | EVALUATE

PARAMS_INVALIDATE = {  # check_params reads every section: it is stale after any of them
    ("task1", "epochs"): {"engineer@task1", "train@task1", "evaluate@task1"},
    ("task2", "epochs"): {"engineer@task2", *TASK2},
    ("task3", "epochs"): {"engineer@task3", "train@task3", "evaluate@task3"},
    ("task4", "epochs"): {"engineer@task4", *TASK4},
    ("task4", "loss", "weights", "l1"): {"train_task4", "evaluate_task4"},
    ("analyze", "outlier_mad"): ANALYZE,
    ("engineer", "task1", "min_steps"): {"engineer@task1", "engineer@task2", "engineer@task4"},
    ("engineer", "task3", "min_steps"): {"engineer@task3"},
    ("extract", "limits", "max_members"): EXTRACT,
}
MODULE_INVALIDATES = {
    **dict.fromkeys(("errors", "files", "layout", "numerics", "stage"), EVERY_STAGE),
    "config": EVERY_STAGE - PREPARE - AUDIT,
    "data": EVERY_STAGE - CHECK - EXTRACT - AUDIT,
    "custody": PREPARE | ENGINEER | EVALUATE | {"train_task2"},
    "runtime": ANALYZE | TRAIN | EVALUATE,
    "settings/train": CHECK | ENGINEER | TRAIN | EVALUATE,
    "settings/data": CHECK | ANALYZE | ENGINEER,
    "settings/task2": CHECK | TASK2,
    "settings/task4": CHECK | TASK4,
    **dict.fromkeys(("settings/extract", "tarstream"), CHECK | EXTRACT),
    "settings/sections": CHECK,
    **dict.fromkeys(("archive", "inventory"), EXTRACT),
    **dict.fromkeys(("duplicates", "label_check", "prior", "properties", "shift"),
                    ANALYZE | ENGINEER),
    "progress": ANALYZE | ENGINEER | TRAIN | EVALUATE,
    **dict.fromkeys(("analysis", "figures", "reporting"), ANALYZE),
    **dict.fromkeys(("degradation", "engineering", "matching"), ENGINEER),
    "audit": AUDIT,
    **dict.fromkeys(("class_health", "hooks", "models", "recipe", "training"), TRAIN | EVALUATE),
    "evaluation": {"train_task4_reference", "train_task4"} | EVALUATE,
    "live": TRAIN,
    "losses": {"train_task4_reference", "train_task4"},
    **dict.fromkeys(("callbacks", "task2"), {"train_task2"}),
    "frontier": {"evaluate_task4"},
    # The stand-in builder and the experiment reader serve make and the scripts, no stage.
    **dict.fromkeys(("standin", "standin_profiles", "digit_faults", "experiments"), set()),
}


def stale_stages(repo: Path) -> set[str]:
    """The stages `dvc status` lists (through DVC's Python API: no process start per call)."""
    from contextlib import chdir

    from dvc.repo import Repo

    # From inside the repository, as the CLI runs: elsewhere DVC names stages by their path.
    with chdir(repo), Repo(".") as dvc_repo:
        return set(dvc_repo.status())


@pytest.mark.parametrize("key", PARAMS_INVALIDATE, ids=".".join)
def test_a_params_key_invalidates_only_the_stages_that_read_it(repo, key):
    original = (repo / "params.yaml").read_text()
    params = yaml.safe_load(original)
    section = params
    for part in key[:-1]:
        section = section[part]
    section[key[-1]] = section[key[-1]] * 2 + 1
    try:
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        assert stale_stages(repo) == CHECK | PARAMS_INVALIDATE[key]
    finally:
        (repo / "params.yaml").write_text(original)
    assert stale_stages(repo) == set()


def test_the_invalidation_table_names_every_module():
    modules = {str(p.relative_to(REPO / "vvpipe").with_suffix(""))
               for p in (REPO / "vvpipe").rglob("*.py") if p.stem != "__init__"}
    assert modules == set(MODULE_INVALIDATES)


@pytest.mark.parametrize("module", MODULE_INVALIDATES)
def test_an_edit_to_a_module_invalidates_only_the_stages_that_import_it(repo, module):
    path = repo / "vvpipe" / f"{module}.py"
    original = path.read_text()
    try:
        path.write_text(original + "# an edit\n")
        assert stale_stages(repo) == MODULE_INVALIDATES[module]
    finally:
        path.write_text(original)


def test_a_task4_loss_change_retrains_only_the_chosen_model(repo):
    original = (repo / "params.yaml").read_text()
    try:
        set_params(repo, task4={"loss": {"ce_scale": 3.0, "ce_weight": 1.0, "penalise": "all",
                                         "warmup_epochs": 0, "weights": {"l1": 0.5}}})
        # The check reads every section; its output names only the sections, so once it has
        # run nothing below it (extract and on) is stale.
        sh(repo, "dvc", "repro", "-q", "--single-item", "check_params")
        assert stale_stages(repo) == {"train_task4", "evaluate_task4"}
    finally:
        (repo / "params.yaml").write_text(original)
        sh(repo, "dvc", "repro", "-q", "--single-item", "check_params")


def test_audit_is_skipped_without_a_stand_in_manifest(repo):
    inventory_path = repo / "reports/inventory.json"
    original = inventory_path.read_text()
    try:
        inventory = json.loads(original)
        inventory["archive"]["kind"] = "user"
        inventory_path.write_text(json.dumps(inventory))
        sh(repo, sys.executable, "stages/audit.py", "task1")
        audit = json.loads((repo / "reports/task1/audit.json").read_text())
        assert audit["skipped"] is True and "not the embedded stand-in" in audit["reason"]
    finally:
        inventory_path.write_text(original)
        sh(repo, sys.executable, "stages/audit.py", "task1")


def test_a_changed_test_file_stops_the_evaluation(repo):
    victim = next((repo / "data/task1/test").rglob("*.png"))
    original = victim.read_bytes()
    try:
        victim.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        result = sh(repo, sys.executable, "stages/evaluate.py", "task1", check=False)
        assert result.returncode == 1
        assert "data/task1/test differs from the archive's test files" in result.stderr
    finally:
        victim.write_bytes(original)


def test_test_tensors_that_are_not_the_decoded_test_files_stop_the_evaluation(repo):
    prepared = repo / "prepared/task1.pt"
    original = prepared.read_bytes()
    try:
        sets = torch.load(prepared)
        sets["test"]["images"][0, 0, 0, 0] ^= 1
        torch.save(sets, prepared)
        result = sh(repo, sys.executable, "stages/evaluate.py", "task1", check=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "test images in prepared/task1.pt are not the decoded files" in result.stderr
    finally:
        prepared.write_bytes(original)


@pytest.mark.parametrize("bad, culprit", [
    ({"task1": {"epoch": 3}}, "unknown key task1.epoch"),
    ({"task1": {"device": "gpu"}}, "task1.device must be auto"),
    ({"task4": {"loss": {"weights": {"l1": -1.0}}}}, "task4.loss.weights.l1 must be 0 or more"),
    ({"task2": {"monitor": "val_f1"}}, "task2.monitor must be one of"),
    ({"engineer": {"task1": {"validation": 0.0}}},
     "engineer.task1.validation leaves no validation image of class(es)"),
])
def test_a_bad_parameter_fails_naming_the_key(repo, bad, culprit):
    original = (repo / "params.yaml").read_text()
    try:
        set_params(repo, **bad)
        stage = {"task4": "train_task4", "task2": "train_task2",
                 "engineer": "train_task2"}.get(next(iter(bad)), "train@task1")
        result = sh(repo, "dvc", "repro", stage, check=False)
        assert result.returncode != 0
        assert culprit in result.stderr + result.stdout
    finally:
        (repo / "params.yaml").write_text(original)


def test_a_missing_archive_is_named(repo):
    archive = repo / "data.tar.xz"
    moved = archive.rename(repo / "elsewhere.tar.xz")
    try:
        result = sh(repo, "dvc", "repro", "extract", check=False)
        assert result.returncode != 0 and "data.tar.xz" in result.stderr + result.stdout
    finally:
        moved.rename(archive)


def test_a_killed_task2_run_resumes_under_dvc_repro_with_the_same_result(repo):
    original = (repo / "params.yaml").read_text()
    set_params(repo, task2={"epochs": 100, "checkpoint": {"every_n_epochs": 5, "keep_last": 2},
                            "early_stopping": {"enabled": False}, "swa": {"start": 0.5}})
    checkpoints = repo / "checkpoints/task2"
    try:
        process = subprocess.Popen(["dvc", "repro", "train_task2"], cwd=repo, env=ENV,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        deadline = time.monotonic() + 300
        while not (checkpoints / "epoch-0010.pt").exists() and process.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"

        resumed = sh(repo, "dvc", "repro", "train_task2")
        assert "task2: resuming from checkpoints/task2/epoch-" in resumed.stdout
        training = json.loads((repo / "reports/task2/training.json").read_text())
        timing = json.loads((repo / "logs/timing/train_task2.json").read_text())
        assert training["epochs_run"] == 100 and timing["resumed_from_epoch"] >= 10
        after_resume = {n: torch.load(repo / f"models/task2/{n}.pt") for n in ("final", "swa")}

        shutil.rmtree(checkpoints)
        sh(repo, "dvc", "repro", "-f", "train_task2")
        for name, weights in after_resume.items():
            uninterrupted = torch.load(repo / f"models/task2/{name}.pt")
            assert all(torch.equal(weights[k], uninterrupted[k]) for k in weights), name
    finally:
        (repo / "params.yaml").write_text(original)


# An AVX2-only CPU, as far as the numerical libraries can tell.
AVX2_MACHINE = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
                "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


# The task 1 stages that compute in floats; check_params, extract and prepare are integer work.
TASK1_FLOAT_STAGES = ("analyze@task1", "engineer@task1", "train@task1", "evaluate@task1",
                      "audit@task1")


def task1_metrics(repo: Path, stages: tuple[str, ...] = TASK1_FLOAT_STAGES, **env: str
                  ) -> dict[str, dict]:
    """The task 1 evaluation and audit after ``stages`` ran again, in that order."""
    sh(repo, "dvc", "repro", "-f", "-s", *stages, env=env)
    return {name: json.loads((repo / "reports/task1" / name).read_text())
            for name in ("evaluation.json", "audit.json")}


def without_provenance(report: dict) -> dict:
    return {key: value for key, value in report.items() if key != "provenance"}


def test_pinned_numerics_give_identical_task1_metrics_under_two_isa_caps(repo):
    native_capability = sh(repo, sys.executable, "-c", "import torch; "
                           "print(torch.backends.cpu.get_cpu_capability())").stdout.strip()
    if native_capability != "AVX2":  # this CPU has more than AVX2: show what the pin prevents
        unpinned = [task1_metrics(repo, ("train@task1", "evaluate@task1"), VVPIPE_NATIVE_ISA="1",
                                  **machine)["evaluation.json"] for machine in ({}, AVX2_MACHINE)]
        assert without_provenance(unpinned[0]) != without_provenance(unpinned[1])
    # Pinned whatever the caller's environment says (the suite may run with the pins lifted).
    pinned = [task1_metrics(repo, VVPIPE_NATIVE_ISA="0", **machine)
              for machine in ({}, AVX2_MACHINE)]
    assert pinned[0] == pinned[1]
    for metrics in pinned[0].values():  # the audit's is the analysis stage's
        assert metrics["provenance"]["cpu_capability"] == "AVX2"
        assert metrics["provenance"]["isa_pinned"] is True
