#!/usr/bin/env bash
# Only queues; `bash scripts/run_queue.sh` runs the queue (`make ablation` does both).
# The contribution of each remedy: one DVC experiment per remedy switched off, each running
# only the stages its task's evaluation needs (engineer, train, evaluate). Compare with
#   dvc exp show --md --drop '.*' --keep 'Experiment|accuracy'
set -euo pipefail

queue() { dvc exp run --queue --quiet --name "$1" "${@:2}"; }

queue t1-keep-duplicates   -S engineer.task1.drop_duplicates=false          evaluate@task1
queue t1-keep-corrupted    -S engineer.task1.drop_corrupted=false           evaluate@task1
queue t1-drop-inverted     -S engineer.task1.repair_inverted=false          evaluate@task1
queue t1-keep-labels       -S engineer.task1.label_errors=keep              evaluate@task1
queue t1-no-rebalance      -S engineer.task1.rebalance=none                 evaluate@task1
queue t1-no-shuffle        -S engineer.task1.shuffle=false                  evaluate@task1
queue t3-keep-labels       -S engineer.task3.label_errors=keep              evaluate@task3
queue t3-drop-inverted     -S engineer.task3.repair_inverted=false          evaluate@task3
queue t3-no-rebalance      -S engineer.task3.rebalance=none                 evaluate@task3
queue t3-no-shift-copies   -S engineer.task3.augment_shift=false            evaluate@task3
# The spread without any remedy changing: another engineering seed (jittered copies, order).
queue t1-seed1             -S engineer.task1.seed=1                         evaluate@task1
queue t1-seed2             -S engineer.task1.seed=2                         evaluate@task1

