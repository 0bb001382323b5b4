"""The `weavergen` CLI against the real server: run follows to the end, show/runs/incidents."""

from __future__ import annotations

import json
import subprocess

from tests.api.helpers import final_files, pytest_passes
from tests.servers import BIN, Environment


def cli(env: Environment, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "weavergen"), *args, "--server", env.url],
        env={**env.env, "WEAVERGEN_TOKEN": env.token},
        cwd=env.workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_run_completes_and_exits_zero(env: Environment) -> None:
    out = cli(
        env,
        "run",
        "Write a function add(a, b) that returns their sum",
        "--language",
        "python",
        "--pattern",
        "quick",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    run = json.loads(out.stdout)
    assert run["status"] == "completed" and run["pattern"] == "quick"
    with env.client() as api:
        files = final_files(api, run)
    assert set(files) == {"solution.py", "test_solution.py"}
    assert pytest_passes(files).returncode == 0

    shown = cli(env, "show", run["id"])
    assert shown.returncode == 0 and "decide_next" in shown.stdout and "solution.py" in shown.stdout
    assert "validation validate: passed score 1.00 tests 2/2" in shown.stdout
    listed = cli(env, "runs", "--json")
    assert run["id"] in [r["id"] for r in json.loads(listed.stdout)]
    assert cli(env, "incidents").returncode == 0


def test_run_that_fails_exits_nonzero(env: Environment) -> None:
    out = cli(env, "run", "Write a function add(a, b) NEVER-PASSES", "--pattern", "quick")
    assert out.returncode == 1
    assert "failed" in out.stderr


def test_bad_language_is_a_clear_error(env: Environment) -> None:
    out = cli(env, "run", "hello", "--language", "cobol")
    assert out.returncode == 1
    assert "HTTP 422" in out.stderr and "language" in out.stderr


def test_unreachable_server_is_a_clear_error(env: Environment) -> None:
    out = subprocess.run(
        [str(BIN / "weavergen"), "runs", "--server", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1 and "cannot reach the WeaverGen server" in out.stderr
