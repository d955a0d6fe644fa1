#!/usr/bin/env bash
# Only queues; `make ablation-task2` also runs the queue and writes the report.
# Task 2's ablation on its engineered set, three seeds per row, queued with DVC's grid syntax (a
# comma list per key: one experiment per combination), each re-running task 2's stages only:
#   lr=x           the plain loop (no callback) at learning rate x; 0.001 is the original loop
#   <feature>      the plain loop at the default lr plus that one feature (swa.start=0.5 with
#                  swa.lr=0.02: SWA over the second half at the training rate)
#   defaults       params.yaml as it is
# Each row keeps the default epoch budget; scripts/task2_ablation.py groups the runs by their
# params and reads the choices on the validation split.
set -euo pipefail

SEEDS=${SEEDS:-0,1,2}

queue() {  # queue KEY=VALUE...: task2 settings of one row; the others are the plain loop's
  local -A row=([checkpoint.enabled]=false [early_stopping.enabled]=false
                [lr_scheduler.name]=none [swa.enabled]=false)
  local pair key
  for pair in "$@"; do row[${pair%%=*}]=${pair#*=}; done
  local args=(-S "task2.seed=$SEEDS")
  for key in "${!row[@]}"; do args+=(-S "task2.$key=${row[$key]}"); done
  dvc exp run --queue --quiet evaluate_task2 "${args[@]}"
}

queue "lr=${LRS:-0.001,0.005,0.01,0.02,0.04}"
queue checkpoint.enabled=true
queue early_stopping.enabled=true
queue "lr_scheduler.name=plateau,cosine,step,onecycle"
queue swa.enabled=true
queue swa.enabled=true swa.start=0.5 swa.lr=0.02
dvc exp run --queue --quiet evaluate_task2 -S "task2.seed=$SEEDS"   # the defaults
