"""`python -m bench NAME [OPTIONS]`: run one bench; `python -m bench NAME --help` lists its
options. The `weavergen` sub-commands of the benches re-execute this with their arguments."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

BENCHES = {
    "validate": ("bench.validate.command", "the validation mesh's accuracy on HumanEval"),
    "eval": ("bench.eval.command", "single model vs consensus vs consensus+loop on HumanEval"),
    "learn": ("bench.learn", "decide.pattern learning which pattern works, against the stand-in"),
    "engine": ("bench.engine", "durable cost per step beside raw SpiffWorkflow, same diagram"),
    "start": ("bench.start", "warm start to /health, first run after start, CLI overhead"),
    "load": ("bench.load", "N runs submitted at once to a real server: refusals, 500s, latency"),
    "conformance": ("bench.conformance", "SpiffWorkflow's test diagrams: raw vs through the API"),
    "statistics": ("bench.statistics", "GET /api/diagrams/quick/statistics over 10,000 steps"),
    "classify": ("bench.classify", "rules + learned classifier on held-out labelled requests"),
    "memory": ("bench.memory", "recall precision@5 and latency at 10k and 100k memories"),
    "corrections": ("bench.corrections", "a person's rejections recalled: later runs avoid it"),
    "route": ("bench.route", "model routing regret vs random, prefer speed, failure policy"),
}
"""Bench name -> (module with `main(argv) -> int`, one line for `--help`). A new bench is a
module with such a `main` and a line here."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="WeaverGen benchmarks.",
        epilog="\n".join(f"  {name:<9} {text}" for name, (_, text) in BENCHES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("bench", choices=BENCHES, help="which bench (listed below)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the bench's own options")
    return parser


def _logging() -> None:
    # warnings and errors only: the benches print their own progress and figures
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the named bench with the remaining arguments; its exit code is ours."""
    args = _parser().parse_args(argv)
    module = importlib.import_module(BENCHES[args.bench][0])
    _logging()
    return int(module.main(args.args))


if __name__ == "__main__":
    sys.exit(main())
