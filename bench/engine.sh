#!/usr/bin/env bash
# The durable engine's overhead per step beside raw SpiffWorkflow on the same diagram with the
# same step results, in one process: a quick run looping 15 times against the stand-in at
# zero latency, one worker. Prints a table per step and, last,
# `engine per_step=… ms raw=… ms ratio=… first_iteration=… last_iteration=… statements/step=…`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench engine "$@"
