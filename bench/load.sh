#!/usr/bin/env bash
# N runs submitted at once to a real `weavergen serve` (its own PostgreSQL, two worker
# processes) against the stand-in model, from one asyncio client. Prints accepted, refused
# (503 + Retry-After, then retried), 500s, completed, wall, runs/s, run latency p50/p95/max,
# API p50/p99 sampled during the load and the memory of server, workers and PostgreSQL.
#   bench/load.sh N                       quick runs (validation on), stand-in at 300 ms
#   bench/load.sh N --pattern model_only --latency-ms 30000 --concurrency 5000
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?usage: bench/load.sh N [options]}
shift
exec .venv/bin/python -m bench load "$n" "$@"
