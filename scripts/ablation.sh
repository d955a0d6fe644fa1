#!/usr/bin/env bash
# Only queues; `bash scripts/run_queue.sh` runs the queue (`make ablation` does both).
# The contribution of each remedy: one DVC experiment per remedy switched off, each running
# only the stages its task's evaluation needs (engineer, train, evaluate). Every metrics file
# has the validation accuracy beside the test accuracy; compare with
#   dvc exp show --md --drop '.*' --keep 'Experiment|val_accuracy|^accuracy|min_class_recall'
set -euo pipefail

queue() { dvc exp run --queue --quiet --name "$1" "${@:2}"; }

# The spread without any remedy changing: other engineering seeds (which copies, which order,
# which validation images).
queue t1-seed1             -S engineer.task1.seed=1                         evaluate@task1
queue t1-seed2             -S engineer.task1.seed=2                         evaluate@task1
queue t3-seed1             -S engineer.task3.seed=1                         evaluate@task3
queue t3-seed2             -S engineer.task3.seed=2                         evaluate@task3
# One remedy off at a time.
queue t1-no-size-rule      -S engineer.task1.min_steps=0                    evaluate@task1
queue t3-no-matching       -S engineer.task3.match_test=false               evaluate@task3
# Task 3's set size: twice the size rule's steps (the ceiling), over the same three seeds. The
# validation split cannot see task 3's shift; its test-matched copy (val_matched_accuracy) can.
queue t3-steps16k          -S engineer.task3.min_steps=16000                evaluate@task3
queue t3-steps16k-seed1    -S engineer.task3.min_steps=16000 -S engineer.task3.seed=1 evaluate@task3
queue t3-steps16k-seed2    -S engineer.task3.min_steps=16000 -S engineer.task3.seed=2 evaluate@task3
