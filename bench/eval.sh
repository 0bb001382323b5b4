#!/usr/bin/env bash
# Single model vs multi-model consensus vs consensus + reasoning loop on HumanEval, against
# the stand-in (a replay of reference solutions and broken variants at set accuracies, not a
# model). Prints a table per strategy with the figures probability predicts beside the
# measured ones; the last line is `pass@1 single=A consensus=B consensus+loop=C`.
#   bench/eval.sh [LIMIT]              (default 40 problems)
# Against a running WeaverGen with real models:  .venv/bin/weavergen eval --humaneval --server URL
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/weavergen eval --humaneval --limit "${1:-40}" \
  --models coder,coder-b,coder-c --standin-accuracy coder=0.7,coder-b=0.6,coder-c=0.5
