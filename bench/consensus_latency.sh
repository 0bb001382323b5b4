#!/usr/bin/env bash
# How long a consensus step takes when each of three stand-in model groups answers after
# 1 s: the three calls run in parallel, so the generation should take about one call.
# Prints the consensus runs' `parallel generation mean/median/max` line (and the usual
# table). One run at a time, so the figure is the step itself, not a queue on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/weavergen eval --humaneval --limit "${1:-10}" --strategy consensus \
  --models coder,coder-b,coder-c --standin-accuracy coder=0.7,coder-b=0.6,coder-c=0.5 \
  --standin-latency-ms 1000 --concurrency 1
