#!/usr/bin/env bash
# Queue task 4's loss sweep as DVC experiments and run them two at a time.
# Each experiment changes task4.loss only, so it re-trains the chosen model alone (about 10
# minutes on one CPU core); the one that also shuffles the training batches re-trains the
# plain cross-entropy reference too. Afterwards: python scripts/task4_pareto.py
set -euo pipefail

queue() { dvc exp run --queue --quiet --name "$1" "${@:2}"; }
base=(-S task4.loss.ce_scale=1 -S task4.loss.ce_weight=1 -S task4.loss.penalise=all
      -S task4.loss.warmup_epochs=0 -S task4.loss.weights.l2=0 -S task4.loss.weights.l1=0
      -S task4.loss.weights.zloss=0 -S task4.loss.weights.centre=0)

queue t4-l2-1      "${base[@]}" -S task4.loss.weights.l2=1
queue t4-l1-0.3    "${base[@]}" -S task4.loss.weights.l1=0.3
queue t4-zloss-c   "${base[@]}" -S task4.loss.weights.zloss=0.1 -S task4.loss.weights.centre=1
queue t4-scale10-c "${base[@]}" -S task4.loss.ce_scale=10 -S task4.loss.ce_weight=0.1 \
                                -S task4.loss.weights.centre=1
queue t4-shuffled-scale20-c "${base[@]}" -S task4.shuffle_train=true -S task4.loss.ce_scale=20 \
                                -S task4.loss.weights.centre=1

# One thread per run: two runs of two threads each would fight over two cores.
OMP_NUM_THREADS=1 dvc queue start --jobs 2
while dvc queue status | grep -qE "Queued|Running"; do sleep 30; done
dvc queue status
