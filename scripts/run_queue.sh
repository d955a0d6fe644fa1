#!/usr/bin/env bash
# Run every queued DVC experiment, two at a time, and wait until all are done.
set -euo pipefail
# One thread per run: two runs of two threads each would fight over two cores.
OMP_NUM_THREADS=1 dvc queue start --jobs 2
while dvc queue status | grep -qE "Queued|Running"; do sleep 30; done
dvc queue status
