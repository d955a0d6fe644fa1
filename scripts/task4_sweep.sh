#!/usr/bin/env bash
# Only queues; `make sweep-task4` also runs the queue and writes the frontier.
# Task 4's loss family on its evaluation-loss frontier, three seeds per row, queued with DVC's
# grid syntax (a comma list per key: one experiment per combination), each re-running the task 4
# stages only (the reference once per seed). Rows, by the loss keys they set:
#   penalise=non_target l1=w        CE + w·mean |non-target logit|
#   l1=w                            CE + w·mean |logit|: the metric itself as the penalty
#   ce_weight=c penalise=non_target c·CE + w·mean |non-target logit| (the fixed SGD takes a c
#                                   times larger step for the CE); l1=0 is c·CE alone, the
#                                   control for what the larger step does without a penalty
#   ce_scale=40 centre=1            CE on 40·z plus centring: the temperature option
#   ... above_margin=1 target_margin=m  2·CE + 1.6·mean |non-target z| (the loss shipped before
#                                   the cap) with the target logit capped at m
#   ... margin_spread=w             the same loss plus w·var(z_y - max other z)
#   ce_weight=8 l1=6.4 ... above_margin=1 target_margin=m  the cap with an 8 times larger CE step;
#                                   at m = 5.5 it is the shipped default (params.yaml)
# ROWS picks the groups (default: all): "family" (the rows above the last three), "margin",
# "spread", "default" (the shipped loss alone) and "custom": the one row ROW sets, e.g.
# ROW="penalise=non_target ce_weight=4 weights.l1=3.2,6.4" (comma lists are grids too). The
# cheap frontier of one member on one profile is a bracket on one knob: scripts/task4_bracket.py.
# scripts/task4_frontier.py groups the runs by their params (not their names) and reads every
# row on the validation split. An experiment queued again with the same params is restored from
# DVC's run cache, so a sweep can be grown without re-training what it already has.
set -euo pipefail

SEEDS=${SEEDS:-0,1,2}
ROWS=${ROWS:-family default margin spread}

queue() {  # queue KEY=VALUE...: task4.loss settings of one row; every other key is plain CE's
  local -A loss=([ce_scale]=1 [ce_weight]=1 [penalise]=all [warmup_epochs]=0 [target_margin]=0
                 [weights.l2]=0 [weights.l1]=0 [weights.zloss]=0 [weights.centre]=0
                 [weights.above_margin]=0 [weights.margin_spread]=0)
  local pair key
  for pair in "$@"; do loss[${pair%%=*}]=${pair#*=}; done
  local args=(-S "task4.seed=$SEEDS")
  for key in "${!loss[@]}"; do args+=(-S "task4.loss.$key=${loss[$key]}"); done
  dvc exp run --queue --quiet evaluate_task4 "${args[@]}"
}

wanted() { [[ " $ROWS " == *" $1 "* ]]; }
# The loss shipped before the cap, which the margin and spread rows extend, and today's default.
UNCAPPED=(penalise=non_target ce_weight=2 weights.l1=1.6)
DEFAULT=(penalise=non_target ce_weight=8 weights.l1=6.4 weights.above_margin=1 target_margin=5.5)

if wanted family; then
  queue penalise=non_target "weights.l1=${NON_TARGET:-0.1,0.2}"
  queue "weights.l1=${ALL:-0.2}"
  queue penalise=non_target ce_weight=2 "weights.l1=${STRONG2:-0,0.4,0.8,1.6,3.2,6.4}"
  queue penalise=non_target ce_weight=3 "weights.l1=${STRONG3:-1.2,2.4}"
  queue ce_scale=40 weights.centre=1
fi
if wanted default; then
  queue "${DEFAULT[@]}"
fi
if wanted margin; then
  queue "${UNCAPPED[@]}" weights.above_margin=1 "target_margin=${MARGINS:-4,5,6}"
  queue penalise=non_target ce_weight=8 weights.l1=6.4 weights.above_margin=1 \
    "target_margin=${MARGINS8:-5,5.25,5.5,6}"
fi
if wanted spread; then
  queue "${UNCAPPED[@]}" "weights.margin_spread=${SPREADS:-0.02,0.1}"
fi
if wanted custom; then
  [ -n "${ROW:-}" ] || { echo "error: ROWS has custom but ROW (its loss keys) is empty" >&2; exit 2; }
  read -ra custom <<< "$ROW"
  queue "${custom[@]}"
fi
