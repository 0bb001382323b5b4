"""The quick pattern for JavaScript and Go requests: each validated by its own stages."""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import final_files, start_run, step
from tests.servers import wait_run

CASES = {
    "javascript": ({"syntax", "lint", "tests"}, {"index.js", "index.test.js"}),
    "go": ({"format", "build", "vet", "tests"}, {"add.go", "add_test.go"}),
}


@pytest.mark.parametrize("language", sorted(CASES))
def test_quick_run_in_language(api: httpx.Client, language: str) -> None:
    run = wait_run(
        api,
        start_run(
            api, "Write a function add(a, b) that returns their sum", "quick", language=language
        ),
        timeout=180,
    )
    assert run["status"] == "completed", run
    [validate] = step(run, "validate")
    stages, files = CASES[language]
    result = validate["result"]
    assert set(result["stages"]) == stages
    assert all(status == "passed" for status in result["stages"].values()), result
    assert result["tests_passed"] == result["tests_total"] >= 1
    assert set(final_files(api, run)) >= files
