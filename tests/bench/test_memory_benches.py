"""The memory benches end to end at a small size: the recall bench on a real PostgreSQL and
the corrections simulation on the real engine (each starts its own embedded PostgreSQL and
stand-in). The figures the issue names come from the full runs; these check the benches
work and that what they measure holds at this size."""

from __future__ import annotations

import re

import pytest

from bench import corrections, memory


def test_recall_bench_prints_precision_and_latency(capsys: pytest.CaptureFixture[str]) -> None:
    memory.main(["--sizes", "1000", "--stores", "postgres", "--queries", "40"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    found = re.fullmatch(
        r"memory: precision@5 (\d\.\d\d), p95 (\d+) ms at 1000 memories \(postgres\)", last
    )
    assert found, last
    assert float(found.group(1)) >= 0.8


def test_a_rejected_mistake_is_avoided_afterwards(capsys: pytest.CaptureFixture[str]) -> None:
    assert corrections.main(["--runs", "4"]) == 0
    out = capsys.readouterr().out
    assert "runs 1-2 (together): mistake made 2/2" in out
    assert "correction recalled in 4 of 4 runs" in out
    assert out.strip().endswith(
        "corrections: mistake avoided in 4 of 4 runs after 2 rejections (100 %)"
    )
