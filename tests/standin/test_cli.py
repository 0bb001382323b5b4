"""`python -m standin`: the real process, its start line and its errors."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from standin.cli import options_from_args
from standin.options import parse_model_accuracy

ROOT = Path(__file__).resolve().parents[2]


def test_cli_options() -> None:
    options = options_from_args(
        [
            "--port",
            "0",
            "--humaneval",
            "--accuracy",
            "0.4",
            "--model-accuracy",
            "coder=0.5,reviewer=0.6",
            "--latency-ms",
            "20",
            "--fail-rate",
            "0.1",
            "--seed",
            "9",
            "--models",
            "coder,reviewer",
        ]
    )
    assert options.port == 0
    assert options.humaneval is True
    assert options.accuracy == 0.4
    assert options.model_accuracy == {"coder": 0.5, "reviewer": 0.6}
    assert options.latency_ms == 20
    assert options.fail_rate == 0.1
    assert options.seed == 9
    assert options.models == ["coder", "reviewer"]
    assert options_from_args([]).port == 8000


def test_parse_model_accuracy_errors() -> None:
    for bad in ("coder", "coder=x", "coder=1.5", "=0.3"):
        try:
            parse_model_accuracy(bad)
        except ValueError as exc:
            assert str(exc)
        else:
            raise AssertionError(f"accepted {bad!r}")


def test_process_logs_start_line_and_serves(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("rules:\n  - match: ping\n    reply: pong\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "standin", "--port", "0", "--script", str(script)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = ""
        deadline = time.monotonic() + 20
        while "listening on" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
        found = re.search(
            r"WeaverGen stand-in model \(not a real model\) listening on (http://127\.0\.0\.1:\d+/v1)",
            line,
        )
        assert found is not None, line
        api_base = found.group(1)
        for _ in range(100):
            try:
                response = httpx.post(
                    f"{api_base}/chat/completions",
                    json={"model": "coder", "messages": [{"role": "user", "content": "ping"}]},
                )
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert response.json()["choices"][0]["message"]["content"] == "pong"
        assert response.headers["x-weavergen-standin"] == "true"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_process_rejects_bad_script(tmp_path: Path) -> None:
    script = tmp_path / "bad.yaml"
    script.write_text("rules:\n  - match: ok\n    reply: x\n  - reply: missing match\n")
    result = subprocess.run(
        [sys.executable, "-m", "standin", "--port", "0", "--script", str(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert f"{script}: rule 1: match: Field required" in result.stderr
