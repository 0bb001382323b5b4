#!/usr/bin/env bash
# How long WeaverGen takes to be useful: warm start of `weavergen serve` to /health, the
# first quick run after the start beside a steady-state one, and a whole CLI command.
# Last line: `start warm_health=…s cold_health=…s first_run=…s steady_run=…s ratio=… cli=…s`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench start "$@"
