#!/usr/bin/env bash
# Only queues; `make sweep-task4` also runs the queue and writes the frontier.
# Task 4's loss family on its evaluation-loss frontier, three seeds per row, every row one DVC
# experiment that re-runs train_task4 and evaluate_task4 (and, once per seed, the reference):
#   nt<w>          CE + w·mean |non-target logit|
#   all<w>         CE + w·mean |logit|: the metric itself as the penalty
#   k<c>-nt<w>     c·CE + w·mean |non-target logit|: the cross-entropy pulls c times harder
#                  (with the fixed SGD, a c times larger step for it); k2-nt0 is 2·CE alone,
#                  the control that shows what the larger step does without any penalty
#   scaled-ce40    CE on 40·z plus centring: the temperature option (flat probabilities)
# Every row is read on the validation split (`python scripts/task4_frontier.py`).
set -euo pipefail

# A sweep can be resumed or grown: an experiment that has a result (on any commit) or waits in
# the queue is not queued again; scripts/task4_frontier.py reads every commit the sweep ran on.
finished=$(dvc exp list --all-commits --name-only 2>/dev/null || true)
waiting=$(dvc queue status 2>/dev/null | awk '$NF == "Queued" || $NF == "Running" { print $2 }')
queue() {
  if grep -qxF "$1" <<< "$finished"; then echo "$1 has a result already"; return; fi
  if grep -qxF "$1" <<< "$waiting"; then echo "$1 is queued already"; return; fi
  dvc exp run --queue --quiet --name "$1" "${@:2}"
}
plain=(-S task4.loss.ce_scale=1 -S task4.loss.ce_weight=1 -S task4.loss.penalise=all
       -S task4.loss.warmup_epochs=0 -S task4.loss.weights.l2=0 -S task4.loss.weights.l1=0
       -S task4.loss.weights.zloss=0 -S task4.loss.weights.centre=0)
SEEDS=${SEEDS:-"0 1 2"}
NON_TARGET=${NON_TARGET:-"0.1 0.2"}
ALL=${ALL:-"0.2"}
STRONG=${STRONG:-"2:0 2:0.4 2:0.8 2:1.6 2:3.2 2:6.4 3:1.2 3:2.4"}

for seed in $SEEDS; do
  s=(-S task4.seed="$seed")
  for w in $NON_TARGET; do
    queue "t4-nt$w-s$seed" "${plain[@]}" -S task4.loss.penalise=non_target \
          -S task4.loss.weights.l1="$w" "${s[@]}"
  done
  for w in $ALL; do
    queue "t4-all$w-s$seed" "${plain[@]}" -S task4.loss.weights.l1="$w" "${s[@]}"
  done
  for pair in $STRONG; do
    c=${pair%%:*} w=${pair##*:}
    queue "t4-k$c-nt$w-s$seed" "${plain[@]}" -S task4.loss.penalise=non_target \
          -S task4.loss.ce_weight="$c" -S task4.loss.weights.l1="$w" "${s[@]}"
  done
  queue "t4-scaled-ce40-s$seed" "${plain[@]}" -S task4.loss.ce_scale=40 \
        -S task4.loss.weights.centre=1 "${s[@]}"
done
