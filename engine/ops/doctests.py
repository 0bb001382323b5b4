"""Tests from examples when a model wrote none: the `>>>` examples in the code's docstrings,
else those in the request (a HumanEval-style prompt), become `test_doctests.py`, so the tests
stage has something to run instead of reporting that tests are missing."""

from __future__ import annotations

import re

from engine.ops.answer_parsing import doctest_file

TEST_FILE = "test_doctests.py"
_TEST_NAME = re.compile(r"(^|/)(test_[^/]*|[^/]*_test)\.py$")


def examples_in(text: str) -> str:
    """The `>>>` examples of `text` with their expected output, as doctest source ("" when
    there are none)."""
    out: list[str] = []
    taking = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(">>>"):
            out.append(stripped)
            taking = True
        elif taking and stripped and not stripped.startswith(("...", '"""', "'''")):
            out.append(stripped)  # the expected output
        elif taking and stripped.startswith("..."):
            out.append(stripped)
        else:
            taking = False
    return "\n".join(out) + "\n" if out else ""


def request_examples_file(request: str, module: str) -> str | None:
    """A pytest file running the request's `>>>` examples against `module`."""
    examples = examples_in(request)
    if not examples or not module.isidentifier():
        return None
    return (
        f"import doctest\n\nimport {module}\n\nEXAMPLES = {examples!r}\n\n\n"
        "def test_the_requests_examples():\n"
        "    parser = doctest.DocTestParser()\n"
        f"    test = parser.get_doctest(EXAMPLES, dict(vars({module})), 'request', None, 0)\n"
        "    runner = doctest.DocTestRunner()\n"
        "    runner.run(test)\n"
        "    assert runner.tries > 0 and runner.failures == 0\n"
    )


def with_doctests(files: dict[str, str], language: str, request: str = "") -> dict[str, str]:
    """`files` plus `test_doctests.py` when they are Python without a test file and the code's
    docstrings or the request hold `>>>` examples; else `files` unchanged."""
    if language != "python" or any(_TEST_NAME.search(p) for p in files):
        return files
    code = [p for p in files if p.endswith(".py") and "/" not in p]
    if not code:
        return files
    main = code[0]
    module = main[: -len(".py")]
    test = doctest_file(files[main], module) or request_examples_file(request, module)
    return {**files, TEST_FILE: test} if test else files
