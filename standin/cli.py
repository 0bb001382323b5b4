"""Command line of the stand-in model server (`python -m standin`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from standin.embeddings import DEFAULT_DIM
from standin.options import (
    DEFAULT_EMBEDDING_MODELS,
    DEFAULT_MODELS,
    StandinOptions,
    parse_model_accuracy,
)
from standin.script import ScriptError


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of `python -m standin`."""
    parser = argparse.ArgumentParser(
        prog="python -m standin",
        description="WeaverGen stand-in model server (not a real model): an OpenAI-compatible "
        "API answering from scripts or HumanEval replay, with feature-hashing "
        "embeddings.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument(
        "--models",
        type=_names,
        default=list(DEFAULT_MODELS),
        help="served model names, comma separated",
    )
    parser.add_argument("--script", type=Path, default=None, help="YAML script file")
    parser.add_argument("--humaneval", action="store_true", help="replay HumanEval answers")
    parser.add_argument(
        "--accuracy",
        type=float,
        default=0.7,
        help="probability of the reference solution (default 0.7)",
    )
    parser.add_argument(
        "--model-accuracy",
        type=parse_model_accuracy,
        default={},
        help="per-model accuracy, e.g. coder=0.5,reviewer=0.6",
    )
    parser.add_argument(
        "--humaneval-models",
        type=_names,
        default=None,
        help="models that replay HumanEval (default: all)",
    )
    parser.add_argument(
        "--embedding-models",
        type=_names,
        default=list(DEFAULT_EMBEDDING_MODELS),
        help="embedding model names listed by /v1/models, comma separated (POST "
        "/v1/embeddings serves any name with a feature-hashing stand-in, not a model)",
    )
    parser.add_argument(
        "--embedding-dim",
        type=int,
        default=DEFAULT_DIM,
        help=f"dimensions of the stand-in embeddings (default {DEFAULT_DIM})",
    )
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def options_from_args(argv: list[str] | None = None) -> StandinOptions:
    """Parse command-line arguments into StandinOptions."""
    args = build_parser().parse_args(argv)
    return StandinOptions(
        host=args.host,
        port=args.port,
        models=args.models,
        script_path=args.script,
        humaneval=args.humaneval,
        accuracy=args.accuracy,
        model_accuracy=args.model_accuracy,
        humaneval_models=args.humaneval_models,
        embedding_models=args.embedding_models,
        embedding_dim=args.embedding_dim,
        latency_ms=args.latency_ms,
        fail_rate=args.fail_rate,
        seed=args.seed,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the stand-in server from the command line."""
    from standin.server import serve

    try:
        serve(options_from_args(argv))
    except (ScriptError, ValidationError) as exc:
        print(f"stand-in model: {exc}", file=sys.stderr)
        return 2
    return 0
