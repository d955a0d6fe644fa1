#!/usr/bin/env bash
# Only queues; `make ablation-task2` also runs the queue and writes the report.
# Task 2's ablation on the engineered task 1 set, three seeds per row, every row one DVC
# experiment that re-runs train_task2 and evaluate_task2 only:
#   lr<x>         the plain loop (no callback) at learning rate x; lr0.001 is the original loop
#   <feature>     the plain loop at the default lr plus that one feature (swa-long: SWA over
#                 the second half at the training rate)
#   all           the defaults of params.yaml
# Each row keeps the default epoch budget; the choices are read on the validation split
# (`python scripts/task2_ablation.py` writes studies/task2_ablation.json and its plot).
set -euo pipefail

queue() { dvc exp run --queue --quiet --name "$1" "${@:2}"; }
plain=(-S task2.checkpoint.enabled=false -S task2.early_stopping.enabled=false
       -S task2.lr_scheduler.name=none -S task2.swa.enabled=false)
SEEDS=${SEEDS:-"0 1 2"}
LRS=${LRS:-"0.001 0.005 0.01 0.02 0.04"}

for seed in $SEEDS; do
  s=(-S task2.seed="$seed")
  for lr in $LRS; do
    queue "t2-lr$lr-s$seed" "${plain[@]}" -S task2.lr="$lr" "${s[@]}"
  done
  queue "t2-checkpoints-s$seed" "${plain[@]}" -S task2.checkpoint.enabled=true "${s[@]}"
  queue "t2-early-stopping-s$seed" "${plain[@]}" -S task2.early_stopping.enabled=true "${s[@]}"
  for scheduler in plateau cosine step onecycle; do
    queue "t2-$scheduler-s$seed" "${plain[@]}" -S task2.lr_scheduler.name="$scheduler" "${s[@]}"
  done
  queue "t2-swa-s$seed" "${plain[@]}" -S task2.swa.enabled=true "${s[@]}"
  # SWA over the second half at the training rate (the averaged model is the only change).
  queue "t2-swa-long-s$seed" "${plain[@]}" -S task2.swa.enabled=true -S task2.swa.start=0.5 \
        -S task2.swa.lr=0.02 "${s[@]}"
  queue "t2-all-s$seed" "${s[@]}"
done
