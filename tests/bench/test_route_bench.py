"""The routing bench end to end at a small size (its own embedded PostgreSQL, stand-in and
engine): every phase prints its figures and the last line has the form the issue names. The
figures themselves come from the full run (`weavergen route-bench --runs 300`); at this size
the router has barely started learning, so no target is asserted."""

from __future__ import annotations

import re

import pytest

from bench import route

NUMBER = r"\d+\.\d"


def test_the_route_bench_prints_every_phase(capsys: pytest.CaptureFixture[str]) -> None:
    code = route.main(["--runs", "12", "--speed-runs", "6", "--failure-runs", "4"])
    assert code in (0, 1)  # 0 only when the ratio meets the target
    lines = capsys.readouterr().out.strip().splitlines()
    out = "\n".join(lines)
    assert lines[0].startswith("routing: 12 function and bug-fix runs, 6 at a time")
    assert re.search(rf"^\s+1-12\s+{NUMBER}\s+{NUMBER}\s+\d\.\d\d\s+\d+ %", out, re.M), out
    assert re.search(r"^  function \(last 12 runs\): coder \d+ %.*the oracle: coder$", out, re.M)
    assert re.search(r"^  bug_fix \(last 12 runs\): .*the oracle: coder-b$", out, re.M)
    assert "speed: 6 more runs with the run option prefer=speed" in out
    assert re.search(r"coder-fast share: \d+ % \(quality.*-> \d+ % \(speed", out), out
    assert re.search(r"pass rate: quality \d+ % .*-> speed \d+ %", out), out
    assert re.search(r"^  before \(pinned: always retry\)\s+4 runs", out, re.M), out
    assert re.search(r"^  after \(learning, second half\)\s+2 runs", out, re.M), out
    assert re.search(r"mean run time of the feature runs: \d+\.\d\d s before -> \d+\.\d\d s", out)
    last = re.fullmatch(
        rf"routing: regret ({NUMBER}) vs random ({NUMBER}) \(ratio (\d+\.\d\d)\)", lines[-1]
    )
    assert last, lines[-1]
    regret, random_, ratio = (float(g) for g in last.groups())
    assert random_ > 0
    assert ratio == pytest.approx(regret / random_, abs=0.06)
