"""`weavergen eval --humaneval`: a short real evaluation against the stand-in, and the
figures it prints."""

from __future__ import annotations

import re

import pytest

from bench.eval.command import main
from bench.eval.evaluate import STRATEGIES
from bench.eval.figures import Outcome, Summary, expected_pass, table
from tests.servers import Environment

LAST = re.compile(r"^pass@1 single=(\d\.\d{3}) consensus=(\d\.\d{3}) consensus\+loop=(\d\.\d{3})$")


def test_short_real_evaluation(capsys: pytest.CaptureFixture[str]) -> None:
    # accuracies 1.0 / 0.0 / 0.0 make every figure certain: single and the consensus always
    # find the reference; the two wrong groups lose to validation
    code = main(
        [
            "--humaneval",
            "--limit",
            "3",
            "--standin-accuracy",
            "coder=1.0,coder-b=0.0,coder-c=0.0",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.rstrip("\n").splitlines()
    m = LAST.match(lines[-1])
    assert m, lines[-1]
    assert m.groups() == ("1.000", "1.000", "1.000")
    rows = {
        cells[0]: cells
        for cells in (line.split() for line in lines)
        if len(cells) == 10 and cells[0] in STRATEGIES
    }
    assert set(rows) == {"single", "consensus", "consensus+loop"}
    # the expected column; predictions were scored (the wrong groups' candidates fail and
    # the reference passes, so AUC has both labels)
    assert rows["consensus"][2] == "1.000"
    assert 0.0 <= float(rows["consensus"][6]) <= 1.0
    assert int(rows["consensus"][8]) == 9  # 3 problems x 3 candidates
    assert re.search(r"^consensus: parallel generation mean \d+\.\d\d s", out, re.M)


def test_expected_figures() -> None:
    acc = [0.7, 0.6, 0.5]
    assert expected_pass("single", acc, 3) == 0.7
    assert expected_pass("consensus", acc, 3) == pytest.approx(0.94)
    assert expected_pass("consensus+loop", acc, 3) == pytest.approx(1 - 0.06 * 0.09)
    assert expected_pass("consensus+loop", acc, 1) == pytest.approx(1 - 0.06 * 0.3)


def test_table_ends_with_the_pass_line() -> None:
    outcomes = [Outcome("HumanEval/0", "completed", True, 1.0, 10, [(0.9, True), (0.2, False)])]
    lines = table([Summary("single", outcomes, 0.7), Summary("consensus", [], None)])
    assert lines[-1] == "pass@1 single=1.000 consensus=0.000"
    assert lines[1].split()[:3] == ["single", "1.000", "0.700"]
    assert lines[1].split()[6:8] == ["1.000", "0.025"]  # AUC, Brier


def test_against_a_running_server(env: Environment, capsys: pytest.CaptureFixture[str]) -> None:
    # the test server's stand-in answers from a script with no HumanEval replay: the run
    # goes through, its answer has no solution, and the table says so
    code = main(
        [
            "--humaneval",
            "--limit",
            "1",
            "--strategy",
            "single",
            "--server",
            env.url,
            "--token",
            env.token,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"against {env.url}" in out
    assert out.rstrip("\n").splitlines()[-1] == "pass@1 single=0.000"
