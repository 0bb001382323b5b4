"""Shared steps of the API tests."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx


def start_run(
    api: httpx.Client,
    text: str,
    pattern: str | None = None,
    *,
    language: str = "python",
    files: dict[str, str] | None = None,
) -> str:
    resp = api.post(
        "/api/runs",
        json={"text": text, "language": language, "pattern": pattern, "files": files or {}},
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def final_files(api: httpx.Client, run: dict[str, Any]) -> dict[str, str]:
    out = {}
    for a in run["artifacts"]:
        if a["final"]:
            body = api.get(f"/api/runs/{run['id']}/artifacts/{a['id']}").raise_for_status().json()
            out[a["path"]] = body["content"]
    return out


def pytest_passes(files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the files' tests with pytest in a fresh directory."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in files.items():
            (Path(tmp) / name).write_text(content)
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", tmp],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=60,
        )


def choices(run: dict[str, Any], element_id: str) -> list[str]:
    return [d["choice"] for d in run["decisions"] if d["element_id"] == element_id]


def step(run: dict[str, Any], element_id: str) -> list[dict[str, Any]]:
    return [s for s in run["steps"] if s["element_id"] == element_id]
