#!/usr/bin/env bash
# Queue task 4's loss sweep as DVC experiments: one per loss type. Each changes task4.loss only,
# so it re-trains the chosen model alone; the plain cross-entropy reference is shared. This
# script only queues: `bash scripts/run_queue.sh` runs them and `python scripts/task4_pareto.py`
# plots them (`make sweep-task4` does all three).
set -euo pipefail

queue() { dvc exp run --queue --quiet --name "$1" "${@:2}"; }
base=(-S task4.loss.ce_scale=1 -S task4.loss.ce_weight=1 -S task4.loss.penalise=all
      -S task4.loss.warmup_epochs=0 -S task4.loss.weights.l2=0 -S task4.loss.weights.l1=0
      -S task4.loss.weights.zloss=0 -S task4.loss.weights.centre=0)

queue t4-l2-1        "${base[@]}" -S task4.loss.weights.l2=1
queue t4-l1-0.3      "${base[@]}" -S task4.loss.weights.l1=0.3
queue t4-zloss-c     "${base[@]}" -S task4.loss.weights.zloss=0.1 -S task4.loss.weights.centre=1
queue t4-scale20-c   "${base[@]}" -S task4.loss.ce_scale=20 -S task4.loss.weights.centre=1
queue t4-scale40-c   "${base[@]}" -S task4.loss.ce_scale=40 -S task4.loss.weights.centre=1

