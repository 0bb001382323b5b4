"""`python -m bench NAME …` runs one bench, and the `weavergen` sub-commands of the benches
hand their arguments to it untouched and pass its exit code back."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.__main__ import BENCHES, main
from tests.servers import BIN


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def test_bench_help_lists_every_bench(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in BENCHES)


def test_unknown_bench_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["nope"])
    assert exit_.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_bench_options_go_to_the_bench() -> None:
    out = run(sys.executable, "-m", "bench", "validate", "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: weavergen validate-bench")
    assert "--variants-per-problem N" in out.stdout


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("validate-bench", "usage: weavergen validate-bench"),
        ("eval", "usage: weavergen eval"),
        ("learn-bench", "usage: weavergen learn-bench"),
    ],
)
def test_weavergen_delegates_help(command: str, usage: str) -> None:
    out = run(str(BIN / "weavergen"), command, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(usage)


def test_weavergen_delegate_passes_the_exit_code_back() -> None:
    # --humaneval is required by the bench's own parser: argparse's usage error, exit 2
    out = run(str(BIN / "weavergen"), "validate-bench", "--limit", "1")
    assert out.returncode == 2
    assert "the following arguments are required: --humaneval" in out.stderr
    out = run(str(BIN / "weavergen"), "eval", "--humaneval", "--limit", "0")
    assert out.returncode == 2
    assert "--limit must be at least 1" in out.stderr
