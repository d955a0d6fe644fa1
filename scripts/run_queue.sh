#!/usr/bin/env bash
# Run every queued DVC experiment, two at a time, and wait until all are done.
#
# Fails (exit 1) when any of them failed, printing `dvc queue logs` for each. Never waits forever:
# a worker can die while tasks are still queued (DVC then leaves them queued with no one to run
# them); the workers are restarted once, and if that happens again the script gives up.
set -euo pipefail

JOBS=${JOBS:-2}
POLL=${POLL:-30}

# Task ids in one status: "Task Name Created Status" rows, then a "Worker status" line.
tasks_in() { dvc queue status | awk -v want="$1" 'NR > 1 && $NF == want { print $1 }'; }
active_workers() { dvc queue status | sed -n 's/^Worker status: \([0-9]*\) active.*/\1/p'; }

mapfile -t batch < <(tasks_in Queued)
if [ ${#batch[@]} -eq 0 ]; then
  echo "nothing queued"
  exit 0
fi
echo "running ${#batch[@]} queued experiments, $JOBS at a time"

# How far this batch is: one line per poll, so a log shows the queue moving.
count_in() { tasks_in "$1" | grep -cxFf <(printf '%s\n' "${batch[@]}") || true; }
progress() {
  echo "$(date +%H:%M:%S) done $(count_in Success), failed $(count_in Failed)," \
       "running $(count_in Running), queued $(count_in Queued) of ${#batch[@]}"
}

# One torch thread per run: two runs of two threads each would fight over two cores.
start_workers() { OMP_NUM_THREADS=1 dvc queue start --jobs "$JOBS"; }
start_workers

restarted=0
idle_polls=0
while true; do
  sleep "$POLL"
  pending=$( (tasks_in Queued; tasks_in Running) | grep -cxFf <(printf '%s\n' "${batch[@]}") || true)
  progress
  [ "$pending" -eq 0 ] && break
  if [ "$(tasks_in Running | wc -l)" -eq 0 ] && [ "$(active_workers)" = "0" ]; then
    idle_polls=$((idle_polls + 1))
  else
    idle_polls=0
  fi
  # Two polls in a row with work queued and no worker: the workers are gone.
  if [ "$idle_polls" -ge 2 ]; then
    if [ "$restarted" -eq 1 ]; then
      echo "error: $pending experiments still queued and no worker is running, even after a" \
           "restart; see \`dvc queue status\`" >&2
      exit 1
    fi
    echo "no worker is running but $pending experiments are queued: restarting the workers" >&2
    restarted=1
    idle_polls=0
    start_workers
  fi
done

dvc queue status
mapfile -t failed < <(tasks_in Failed | grep -xFf <(printf '%s\n' "${batch[@]}") || true)
if [ ${#failed[@]} -gt 0 ]; then
  for task in "${failed[@]}"; do
    echo "---- dvc queue logs $task ----" >&2
    dvc queue logs "$task" >&2 || true
  done
  echo "error: ${#failed[@]} of ${#batch[@]} experiments failed: ${failed[*]}" >&2
  exit 1
fi
echo "all ${#batch[@]} experiments succeeded"
