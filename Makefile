# The two commands a fresh machine needs:  make run  (the whole pipeline)  and  make test.
# Both create the virtual environment first.

PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)

.PHONY: setup lock run test plots data benchmark timing calibrate profiles sweep-task4 ablation ablation-task2 clean

# Which stand-in to build when no archive is present: default, small-imbalanced, photometric, clean.
PROFILE ?= default

setup: $(VENV)/.installed

# requirements.txt pins every package with its hashes, so each install gets the same files.
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.3
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# The embedded stand-in, built only when no archive is present (a user's real archive wins).
data.tar.xz: | $(VENV)/.installed
	python -m vvpipe.standin --profile $(PROFILE) --out $@ --manifest standin/manifest.json
	dvc commit --force --quiet data.dvc
	@git diff --quiet -- data.dvc 2>/dev/null || echo "warning: this stand-in differs from the one \
	data.dvc records (other package versions?); results will differ from the committed ones" >&2

data: data.tar.xz

# After editing requirements.in: re-resolve every package and its hashes into requirements.txt
# (pip-compile's own output name), with pip-tools in a venv of its own so the project's stays
# exactly the locked set.
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet pip==26.3 pip-tools==7.6.2
	.venv-lock/bin/python -m piptools compile --quiet --generate-hashes --allow-unsafe \
		--strip-extras --no-emit-index-url --no-emit-find-links -o requirements.txt requirements.in

run: setup data.tar.xz
	dvc repro
	dvc metrics show

test: setup
	python -m pytest

# Every plot of dvc.yaml, checked for data, in dvc_plots/index.html with Vega inlined (offline).
plots: setup
	python scripts/plots_page.py

benchmark: setup data.tar.xz
	python benchmarks/data_path.py
	python benchmarks/analysis_time.py
	python benchmarks/hostile_input.py

# Where a full run spends its time on a stand-in profile, in a scratch copy, and the training
# step's speed per layout (studies/timing.json): make timing PROFILE=clean
timing: setup
	python benchmarks/training_speed.py
	python benchmarks/pipeline_time.py --profile $(PROFILE)

calibrate: setup
	python benchmarks/calibrate_standin.py

# Tasks 1 and 3 on every stand-in profile, each in a scratch copy (studies/profiles.json).
profiles: setup
	python benchmarks/profiles.py

# Task 4's loss sweep and the engineering ablation, as queued DVC experiments (README).
sweep-task4: setup data.tar.xz
	bash scripts/task4_sweep.sh
	bash scripts/run_queue.sh
	python scripts/task4_frontier.py

ablation: setup data.tar.xz
	bash scripts/ablation.sh
	bash scripts/run_queue.sh

# Task 2's callbacks and learning rates, three seeds per row (studies/task2_ablation.json).
ablation-task2: setup data.tar.xz
	bash scripts/task2_ablation.sh
	bash scripts/run_queue.sh
	python scripts/task2_ablation.py

# Only what DVC caches and git does not track: committed outputs (metrics/, reports/, dvclive/,
# studies/) stay; `dvc checkout` or `dvc repro` brings the rest back.
clean:
	rm -rf data prepared analysis engineered models checkpoints
