"""`python -m bench validate` (`weavergen validate-bench`): the validation bench's command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bench.mesh import default_mesh
from bench.validate.report import format_result
from bench.validate.running import StderrProgress, default_concurrency, run_bench


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="weavergen validate-bench",
        description="Accuracy of the validation mesh on HumanEval: references must pass, "
        "broken variants must be caught.",
    )
    p.add_argument(
        "--humaneval",
        action="store_true",
        required=True,
        help="run the HumanEval suite (the only suite for now)",
    )
    p.add_argument("--limit", type=_positive, metavar="N", help="only the first N problems")
    p.add_argument(
        "--concurrency",
        type=_positive,
        metavar="N",
        help=f"validations at once (default: CPU cores, {default_concurrency()})",
    )
    p.add_argument(
        "--variants-per-problem",
        type=_positive,
        metavar="N",
        help="at most N broken variants per problem (default: all)",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="write the full results here")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the bench; 0 when every reference passed and every broken variant was caught."""
    args = parser().parse_args(argv)
    try:
        mesh = default_mesh()
    except Exception as exc:  # a setup failure ends the run with its reason
        print(f"validate-bench: cannot validate: {exc}", file=sys.stderr)
        return 2
    result = asyncio.run(
        run_bench(
            mesh,
            limit=args.limit,
            concurrency=args.concurrency,
            variants_per_problem=args.variants_per_problem,
            progress=StderrProgress(),
        )
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.to_json(), indent=1) + "\n")
    print("\n".join(format_result(result)), flush=True)
    return 0 if result.ok else 1
