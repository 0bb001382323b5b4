#!/usr/bin/env bash
# The validation mesh's HumanEval accuracy bench: every reference must pass its tests, every
# broken variant must be caught. Arguments go to the bench (--limit N, --concurrency N,
# --variants-per-problem N, --json PATH). The last line of the output is
# `references passed R/P, broken variants caught B/N, T s`; exit 0 only when R = P and B = N.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench validate --humaneval "$@"
