"""Tests from examples when a model wrote none: the generated test file runs (with pytest, as
the sandbox's tests stage does) and passes for right code, fails for wrong code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.ops.doctests import TEST_FILE, examples_in, with_doctests

REQUEST = '''Complete the function.
def add(a, b):
    """Return the sum.
    >>> add(2, 3)
    5
    >>> add(-1, 1)
    0
    """
'''
RIGHT = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b\n"


def pytest_passes(files: dict[str, str], where: Path) -> bool:
    for name, content in files.items():
        (where / name).write_text(content)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(where)],
        capture_output=True,
        text=True,
        cwd=where,
        check=False,
    )
    return done.returncode == 0


def test_the_requests_examples_become_a_test(tmp_path: Path) -> None:
    assert examples_in(REQUEST) == ">>> add(2, 3)\n5\n>>> add(-1, 1)\n0\n"
    files = with_doctests({"solution.py": RIGHT}, "python", REQUEST)
    assert set(files) == {"solution.py", TEST_FILE}
    assert pytest_passes(files, tmp_path)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    assert not pytest_passes(with_doctests({"solution.py": WRONG}, "python", REQUEST), wrong)


def test_the_codes_own_docstring_examples_come_first(tmp_path: Path) -> None:
    code = 'def double(n):\n    """\n    >>> double(4)\n    8\n    """\n    return n * 2\n'
    files = with_doctests({"solution.py": code}, "python", "")
    assert "doctest.testmod(solution)" in files[TEST_FILE]
    assert pytest_passes(files, tmp_path)


def test_nothing_is_added_when_tests_exist_or_nothing_to_take() -> None:
    with_tests = {"solution.py": RIGHT, "test_solution.py": "def test_x():\n    pass\n"}
    assert with_doctests(with_tests, "python", REQUEST) == with_tests
    assert with_doctests({"solution.py": RIGHT}, "python", "add two numbers") == {
        "solution.py": RIGHT
    }
    assert with_doctests({"index.js": "x"}, "javascript", REQUEST) == {"index.js": "x"}
    assert with_doctests({}, "python", REQUEST) == {}
