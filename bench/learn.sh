#!/usr/bin/env bash
# decide.pattern learning against the stand-in: prints the better pattern's share per block
# of 10 runs; the last line is `better pattern chosen in K of the last 20 runs`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/weavergen learn-bench --runs "${1:-60}"
