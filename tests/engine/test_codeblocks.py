"""Files from a model's answer: well-formed answers as before, messy ones (a small model's) as
well as they can be read. (engine/ops/codeblocks.py, engine/ops/answer_parsing.py)"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from engine.ops.codeblocks import doctest_file, extract_files
from validation import languages

FENCE = "```"
SCRIPT = Path(__file__).parents[1] / "fixtures" / "standin_script.yaml"


def md(text: str) -> str:
    """Answers are written with ''' for ``` (easier to read inside Python strings)."""
    return text.replace("'''", FENCE)


# ---------- well-formed answers: exactly as the old reading ----------

_OLD_FENCE = re.compile(r"```([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.S)
_OLD_NAME = re.compile(r"^\s*(?:#|//|--)\s*file:\s*(\S+)\s*$")


def old_extract_files(answer: str, language: str) -> dict[str, str]:
    """extract_files as it was before issue 17 (the reference for well-formed answers)."""
    files: dict[str, str] = {}
    lang = languages.language(language)
    ext = lang.block_extension if lang is not None else "txt"
    for i, match in enumerate(_OLD_FENCE.finditer(answer)):
        body = match.group(2)
        lines = body.splitlines()
        name_match = _OLD_NAME.match(lines[0]) if lines else None
        if name_match:
            name = name_match.group(1)
            body = "\n".join(lines[1:]) + "\n"
        else:
            is_test = "def test_" in body or "test(" in body or "func Test" in body
            name = (
                ("test_solution" if is_test else "solution" if i == 0 else f"part{i}") + "." + ext
            )
        files[name] = body
    return files


def _script_replies() -> list[str]:
    script = yaml.safe_load(SCRIPT.read_text())
    return [r["reply"] for r in script["rules"] if "reply" in r] + [script["default"]]


@pytest.mark.parametrize("language", ["python", "javascript", "go", "cobol"])
@pytest.mark.parametrize("reply", _script_replies())
def test_every_scripted_answer_reads_as_before(reply: str, language: str) -> None:
    assert extract_files(reply, language) == old_extract_files(reply, language)


def test_scripted_shapes_give_their_named_files() -> None:
    replies = _script_replies()
    js = next(r for r in replies if "// file: index.js" in r)
    assert extract_files(js, "javascript") == {
        "index.js": "function add(a, b) {\n  return a + b;\n}\n\nmodule.exports = { add };\n",
        "index.test.js": old_extract_files(js, "javascript")["index.test.js"],
    }
    go = next(r for r in replies if "// file: add.go" in r)
    assert set(extract_files(go, "go")) == {"add.go", "add_test.go"}
    readme = next(r for r in replies if "# file: README.md" in r)
    assert extract_files(readme, "python") == {
        "README.md": "`slugify(text)` turns text into a URL slug.\n"
    }
    bad = next(r for r in replies if "../outside.py" in r)  # the validation reports it
    assert list(extract_files(bad, "python")) == ["../outside.py"]
    prose = [r for r in replies if FENCE not in r]
    assert prose and all(extract_files(r, lang) == {} for r in prose for lang in ("python", "go"))


def test_named_blocks_keep_names_and_content_as_written() -> None:
    answer = md(
        "Here is the code.\n'''python\n# file: solution.py\ndef add(a, b):\n    return a - b\n'''\n"
        "'''python\n# file: test_solution.py\nfrom solution import add\n\n\ndef test_add():\n"
        "    assert add(2, 3) == 5\n'''\n"
    )
    assert extract_files(answer, "python") == old_extract_files(answer, "python")
    assert extract_files(answer, "python") == {
        "solution.py": "def add(a, b):\n    return a - b\n",
        "test_solution.py": "from solution import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
    }


# ---------- the answers from issue 17 ----------

ADD_TO_LIST = md(
    "Sure! Here is the function with a pytest test:\n\n"
    "'''python\n"
    "def add_to_list(a, b):\n"
    "    result = []\n"
    "    result.append(a)\n"
    "    result.append(b)\n"
    "    return result\n"
    "\n"
    "\n"
    "def test_add_to_list():\n"
    "    assert add_to_list(10, 2) == (5, 3.6)\n"
    "'''\n\n"
    "The function add_to_list takes two numbers a and b and adds them to a list. The test "
    "checks that calling add_to_list(10, 2) gives the expected result, so you can be sure "
    "that the function works. You can run the test with pytest.\n"
)


def test_issue_add_to_list_with_its_test_in_one_block_is_a_test_file() -> None:
    files = extract_files(ADD_TO_LIST, "python")
    assert list(files) == ["test_solution.py"]  # pytest collects it, so its test runs
    assert files["test_solution.py"].startswith("def add_to_list(a, b):\n")
    assert files["test_solution.py"].endswith("assert add_to_list(10, 2) == (5, 3.6)\n")
    assert "The function" not in files["test_solution.py"]


def test_issue_add_to_list_in_two_blocks_then_prose() -> None:
    answer = md(
        "'''py\ndef add_to_list(a, b):\n    return [a, b]\n'''\n\n"
        "'''py\nimport pytest\n\n\ndef test_add_to_list():\n"
        "    assert add_to_list(10, 2) == (5, 3.6)\n'''\n\n"
        "This code defines add_to_list and a test. The test checks the result.\n"
    )
    assert extract_files(answer, "python") == {
        "solution.py": "def add_to_list(a, b):\n    return [a, b]\n",
        "test_solution.py": (
            "import pytest\n\n\ndef test_add_to_list():\n    assert add_to_list(10, 2) == (5, 3.6)\n"
        ),
    }


@pytest.mark.parametrize(
    "answer",
    [
        "def is_even(n):",
        "def is_even(n):\n",
        "`def is_even(n):`",
        "Here is the function:\n\ndef is_even(n):",
        md("'''python\ndef is_even(n):\n'''"),
        md("'''python\ndef is_even(n):"),
    ],
)
def test_issue_signature_only_is_kept_for_the_syntax_check(answer: str) -> None:
    # the syntax stage then says what is missing, and the improve step asks for the body
    assert extract_files(answer, "python") == {"solution.py": "def is_even(n):\n"}


def test_a_signature_in_the_middle_of_prose_is_no_code() -> None:
    answer = "You could start with def is_even(n): and then return n % 2 == 0.\nGood luck!"
    assert extract_files(answer, "python") == {}


# ---------- cut-off answers ----------


def test_unclosed_final_fence_runs_to_the_end() -> None:
    answer = md(
        "'''python\n# file: solution.py\ndef add(a, b):\n    return a + b\n'''\n"
        "'''python\n# file: test_solution.py\nfrom solution import add\n\n\ndef test_add():\n"
        "    assert add(2, 3) == 5\n\n\ndef test_add_negative():\n    assert add(-1, 1) =="
    )
    files = extract_files(answer, "python")
    assert files["solution.py"] == "def add(a, b):\n    return a + b\n"
    assert files["test_solution.py"].endswith(
        "def test_add_negative():\n    assert add(-1, 1) ==\n"
    )


def test_unclosed_unnamed_block_with_trailing_blank_lines() -> None:
    answer = md("Here you go:\n'''python\ndef add(a, b):\n    return a + b\n\n\n")
    assert extract_files(answer, "python") == {"solution.py": "def add(a, b):\n    return a + b\n"}


def test_answer_cut_off_without_fences() -> None:
    answer = 'Here is the code:\n\ndef add(a, b):\n    """Add two numbers."""\n    return a +'
    assert extract_files(answer, "python") == {
        "solution.py": 'def add(a, b):\n    """Add two numbers."""\n    return a +\n'
    }


def test_a_fence_opened_inside_an_unclosed_block_starts_the_next_block() -> None:
    answer = md(
        "'''python\ndef add(a, b):\n    return a + b\n"
        "'''python\nfrom solution import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n'''\n"
    )
    assert extract_files(answer, "python") == {
        "solution.py": "def add(a, b):\n    return a + b\n",
        "test_solution.py": "from solution import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
    }


# ---------- no fences at all ----------


def test_code_between_prose_lines() -> None:
    answer = (
        "Here is the code:\n\n"
        "def add(a, b):\n    return a + b\n\n"
        "This function takes two numbers and returns their sum.\n"
    )
    assert extract_files(answer, "python") == {"solution.py": "def add(a, b):\n    return a + b\n"}


def test_two_code_runs_between_prose_are_the_solution_and_its_test() -> None:
    answer = (
        "Here is the function:\n\n"
        "def add(a, b):\n    return a + b\n\n"
        "And here is a test for it:\n\n"
        "from add import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n"
        "Run it with pytest.\n"
    )
    assert extract_files(answer, "python") == {
        "add.py": "def add(a, b):\n    return a + b\n",
        "test_solution.py": "from add import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
    }


def test_module_docstring_with_prose_lines_is_one_file() -> None:
    answer = (
        '"""\nMath helpers for the calculator.\n"""\n\nimport math\n\n\n'
        "def hypot(a, b):\n    return math.sqrt(a * a + b * b)\n"
    )
    assert extract_files(answer, "python") == {"solution.py": answer}


def test_markdown_headings_and_example_output_are_not_code() -> None:
    answer = "## Solution\n\ndef square(x):\n    return x * x\n\n## Example\n\n>>> square(3)\n9\n"
    assert extract_files(answer, "python") == {"solution.py": "def square(x):\n    return x * x\n"}


def test_an_indented_markdown_code_block() -> None:
    answer = "The code:\n\n    def add(a, b):\n        return a + b\n\nThat is all."
    assert extract_files(answer, "python") == {"solution.py": "def add(a, b):\n    return a + b\n"}


@pytest.mark.parametrize(
    "answer",
    [
        "Looks fine; consider unicode normalisation.",
        '{"pattern": "standard", "task_type": "feature", "confidence": 0.6}',
        "1. back up users 2. lowercase emails 3. alter column to citext",
        "The slice end is off by one: `start + size - 1` drops the last item.",
        "Note: x = 5",
        "1. Install it:\n   pip install pytest\n2. Run it:\n   pytest -q\n",
        "result = add(2, 3)",
        "print(add(2, 3))\n# 5",
    ],
)
def test_prose_is_no_code(answer: str) -> None:
    assert extract_files(answer, "python") == {}
    assert extract_files(answer, "javascript") == {}
    assert extract_files(answer, "go") == {}


def test_javascript_without_fences() -> None:
    answer = (
        "Sure! Here is the function:\n"
        "function add(a, b) {\n  return a + b;\n}\n\nmodule.exports = { add };\n"
        "This exports add so that tests can require it.\n"
    )
    assert extract_files(answer, "javascript") == {
        "solution.js": "function add(a, b) {\n  return a + b;\n}\n\nmodule.exports = { add };\n"
    }


def test_go_without_fences() -> None:
    answer = "Here it is:\npackage main\n\nfunc Add(a, b int) int {\n\treturn a + b\n}\nDone."
    assert extract_files(answer, "go") == {
        "solution.go": "package main\n\nfunc Add(a, b int) int {\n\treturn a + b\n}\n"
    }


# ---------- labels ----------


@pytest.mark.parametrize(
    "label", ["python", "py", "python3", "Python", "text", "plaintext", "code", "", "{.python}"]
)
def test_python_under_any_plausible_label(label: str) -> None:
    answer = md(f"'''{label}\ndef add(a, b):\n    return a + b\n'''\n")
    assert extract_files(answer, "python") == {"solution.py": "def add(a, b):\n    return a + b\n"}


def test_shell_sessions_output_and_json_are_left_out() -> None:
    answer = md(
        "'''python\ndef add(a, b):\n    return a + b\n'''\n"
        "Install and run:\n'''bash\npip install pytest\npytest -q\n'''\n"
        "'''console\n$ pytest -q\n1 passed in 0.01s\n'''\n"
        "'''json\n{\"a\": 1}\n'''\n"
        "Output:\n'''\n5\n'''\n"
    )
    assert extract_files(answer, "python") == {"solution.py": "def add(a, b):\n    return a + b\n"}


def test_another_languages_label_on_the_only_code_block() -> None:
    answer = md("'''bash\ndef add(a, b):\n    return a + b\n'''\n'''sh\npython add.py\n'''\n")
    assert extract_files(answer, "python") == {"solution.py": "def add(a, b):\n    return a + b\n"}
    assert extract_files(md("'''bash\npip install pytest\n'''"), "python") == {}


def test_a_block_labeled_as_the_other_language_but_holding_this_one() -> None:
    python_in_js = md("'''js\nimport math\n\n\ndef area(r):\n    return math.pi * r * r\n'''")
    assert list(extract_files(python_in_js, "python")) == ["solution.py"]
    js_in_python = md(
        "'''python\nfunction add(a, b) {\n  return a + b;\n}\nmodule.exports = { add };\n'''"
    )
    assert list(extract_files(js_in_python, "javascript")) == ["solution.js"]
    js = md("'''javascript\nconst x = 1;\nfunction f() {\n  return x;\n}\n'''")
    assert extract_files(js, "python") == {}  # JavaScript is no Python


def test_javascript_and_go_labels() -> None:
    js = md("'''node\nconst add = (a, b) => a + b;\nmodule.exports = { add };\n'''")
    assert list(extract_files(js, "javascript")) == ["solution.js"]
    go = md("'''golang\npackage main\n\nfunc Add(a, b int) int { return a + b }\n'''")
    assert list(extract_files(go, "go")) == ["solution.go"]


# ---------- names ----------


def test_implementation_named_after_the_module_its_test_imports() -> None:
    answer = md(
        "'''python\ndef add(a, b):\n    return a + b\n'''\n"
        "'''python\nfrom add import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n'''\n"
    )
    assert extract_files(answer, "python") == {
        "add.py": "def add(a, b):\n    return a + b\n",
        "test_solution.py": "from add import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
    }


def test_module_imported_whole_and_a_named_test_file() -> None:
    answer = md(
        "'''python\n# file: test_calc.py\nimport calc\n\n\ndef test_add():\n"
        "    assert calc.add(2, 3) == 5\n'''\n"
        "'''python\ndef add(a, b):\n    return a + b\n'''\n"
    )
    assert set(extract_files(answer, "python")) == {"test_calc.py", "calc.py"}


def test_stdlib_and_pytest_imports_name_nothing() -> None:
    answer = md(
        "'''python\nimport math\n\n\ndef area(r):\n    return math.pi * r * r\n'''\n"
        "'''python\nimport math\n\nimport pytest\nfrom solution import area\n\n\n"
        "def test_area():\n    assert area(1) == pytest.approx(math.pi)\n'''\n"
    )
    assert set(extract_files(answer, "python")) == {"solution.py", "test_solution.py"}


def test_two_modules_matched_by_the_names_they_define() -> None:
    answer = md(
        "'''python\ndef mul(a, b):\n    return a * b\n'''\n"
        "'''python\ndef add(a, b):\n    return a + b\n'''\n"
        "'''python\nfrom adding import add\nfrom times import mul\n\n\ndef test_both():\n"
        "    assert add(1, mul(2, 3)) == 7\n'''\n"
    )
    files = extract_files(answer, "python")
    assert files["times.py"] == "def mul(a, b):\n    return a * b\n"
    assert files["adding.py"] == "def add(a, b):\n    return a + b\n"
    assert "test_solution.py" in files


def test_file_names_the_answer_mentions() -> None:
    bold = md("**calc.py**\n'''python\ndef add(a, b):\n    return a + b\n'''\n")
    assert extract_files(bold, "python") == {"calc.py": "def add(a, b):\n    return a + b\n"}
    said = md("'''python\n# File: calc.py\ndef add(a, b):\n    return a + b\n'''\n")
    assert extract_files(said, "python") == {"calc.py": "def add(a, b):\n    return a + b\n"}
    comment = md("'''python\n# calc.py\ndef add(a, b):\n    return a + b\n'''\n")
    assert extract_files(comment, "python") == {
        "calc.py": "# calc.py\ndef add(a, b):\n    return a + b\n"
    }
    info = md("'''python title=\"calc.py\"\ndef add(a, b):\n    return a + b\n'''\n")
    assert list(extract_files(info, "python")) == ["calc.py"]


def test_wrong_file_names_are_not_taken() -> None:
    answer = md(
        "Save this as tests.py:\n'''python\nfrom solution import add\n\n\ndef test_add():\n"
        "    assert add(1, 1) == 2\n'''\n"
        "And this as add.js:\n'''python\ndef add(a, b):\n    return a + b\n'''\n"
    )
    # tests.py is no test file for pytest, add.js no Python file
    assert set(extract_files(answer, "python")) == {"test_solution.py", "solution.py"}


def test_several_test_blocks_keep_their_own_files() -> None:
    answer = md(
        "'''python\ndef add(a, b):\n    return a + b\n'''\n"
        "'''python\nfrom solution import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n'''\n"
        "'''python\nfrom solution import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n'''\n"
    )
    files = extract_files(answer, "python")
    assert list(files) == ["solution.py", "test_solution.py", "test_solution_2.py"]
    assert "test_zero" in files["test_solution_2.py"]


def test_usage_examples_and_repeated_blocks_are_left_out() -> None:
    code = "'''python\ndef add(a, b):\n    return a + b\n'''\n"
    answer = md(code + "You can use it like this:\n'''python\nprint(add(2, 3))  # 5\n'''\n" + code)
    assert extract_files(answer, "python") == {"solution.py": "def add(a, b):\n    return a + b\n"}


def test_a_second_implementation_block_is_a_part() -> None:
    answer = md(
        "'''python\ndef add(a, b):\n    return a + b\n'''\n"
        "'''python\ndef sub(a, b):\n    return a - b\n'''\n"
    )
    assert set(extract_files(answer, "python")) == {"solution.py", "part1.py"}


def test_javascript_names_from_require() -> None:
    answer = md(
        "'''js\nfunction add(a, b) {\n  return a + b;\n}\nmodule.exports = { add };\n'''\n"
        "'''js\nconst test = require('node:test');\nconst assert = require('node:assert');\n"
        "const { add } = require('./index');\n\ntest('adds', () => {\n"
        "  assert.strictEqual(add(2, 3), 5);\n});\n'''\n"
    )
    files = extract_files(answer, "javascript")
    assert list(files) == ["index.js", "index.test.js"]
    assert files["index.js"].startswith("function add(a, b)")
    assert all(languages.language("javascript").is_test_file(n) == ("test" in n) for n in files)


def test_javascript_test_without_a_module_to_require() -> None:
    answer = md(
        "'''javascript\nconst add = (a, b) => a + b;\nmodule.exports = { add };\n'''\n"
        "'''javascript\nconst test = require('node:test');\n"
        "test('adds', () => {});\n'''\n"
    )
    assert list(extract_files(answer, "javascript")) == ["solution.js", "solution.test.js"]


def test_go_names_from_the_package_clause() -> None:
    answer = md(
        "'''go\npackage add\n\nfunc Add(a, b int) int { return a + b }\n'''\n"
        "'''go\npackage add\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n"
        "\tif Add(1, 2) != 3 {\n\t\tt.Fatal(\"sum\")\n\t}\n}\n'''\n"
    )
    files = extract_files(answer, "go")
    assert list(files) == ["add.go", "add_test.go"]
    main = md(
        "'''go\npackage main\n\nfunc Add(a, b int) int { return a + b }\n'''\n"
        "'''go\npackage main\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {}\n'''\n"
    )
    assert list(extract_files(main, "go")) == ["solution.go", "solution_test.go"]


def test_unnamed_blocks_do_not_overwrite_named_ones() -> None:
    answer = md(
        "'''python\n# file: solution.py\ndef add(a, b):\n    return a + b\n'''\n"
        "'''python\ndef sub(a, b):\n    return a - b\n'''\n"
    )
    files = extract_files(answer, "python")
    assert files["solution.py"] == "def add(a, b):\n    return a + b\n"
    assert files["solution_2.py"] == "def sub(a, b):\n    return a - b\n"


# ---------- fences written oddly ----------


def test_fence_closed_at_the_end_of_a_code_line() -> None:
    answer = md("'''python\ndef add(a, b):\n    return a + b''' and that is all.")
    assert extract_files(answer, "python") == {"solution.py": "def add(a, b):\n    return a + b\n"}


def test_fence_indented_in_a_list_item() -> None:
    answer = md("1. The code:\n\n   '''python\n   def add(a, b):\n       return a + b\n   '''\n")
    assert extract_files(answer, "python") == {"solution.py": "def add(a, b):\n    return a + b\n"}


def test_windows_line_ends_four_backticks_and_prose_inside_the_fence() -> None:
    crlf = md("'''python\r\n# file: x.py\r\nx = 1\r\n'''\r\n")
    assert extract_files(crlf, "python") == {"x.py": "x = 1\n"}
    four = "````python\ndef f():\n    return 1\n````\n"
    assert extract_files(four, "python") == {"solution.py": "def f():\n    return 1\n"}
    prose = md("'''python\nHere is the code:\ndef f():\n    return 1\nThis returns one.\n'''\n")
    assert extract_files(prose, "python") == {"solution.py": "def f():\n    return 1\n"}


def test_inline_triple_backticks_in_prose_open_no_block() -> None:
    answer = md("Wrap code in '''python''' fences.\ndef add(a, b):\n    return a + b\n")
    assert extract_files(answer, "python") == {"solution.py": "def add(a, b):\n    return a + b\n"}


# ---------- never raises ----------


@pytest.mark.parametrize(
    "answer",
    [
        "",
        FENCE,
        FENCE * 7,
        md("'''python"),
        md("'''python\n'''"),
        "\x00\xff\ufffd" * 1000,
        bytes(range(256)).decode("latin-1") * 100,
        md("'''python\n") + "(" * 100_000,
        "x = " + "[" * 10_000 + "]" * 10_000,
        "def f():\n" + "    " * 5_000 + "pass\n",
        md("'''python\n\x00def f():\n    return 1\n'''"),
        "\ud800 def f(): pass",
    ],
)
@pytest.mark.parametrize("language", ["python", "javascript", "go", ""])
def test_never_raises(answer: str, language: str) -> None:
    files = extract_files(answer, language)
    assert isinstance(files, dict)
    assert all("\x00" not in content for content in files.values())


def test_only_the_first_200000_characters_are_read() -> None:
    code = md("'''python\n# file: late.py\nx = 1\n'''\n")
    assert extract_files("a" * 199_000 + "\n" + code, "python") == {"late.py": "x = 1\n"}
    assert extract_files("a" * 200_000 + "\n" + code, "python") == {}
    many = md("'''python\ndef f():\n    return 1\n'''\n") * 20_000  # repeats count once
    assert extract_files(many, "python") == {"solution.py": "def f():\n    return 1\n"}


# ---------- doctests ----------

WITH_DOCTEST = '''"""Tiny math."""


def add(a, b):
    """Add two numbers.

    >>> add(2, 3)
    5
    """
    return a + b
'''


def test_doctest_file_runs_the_docstring_examples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    test = doctest_file(WITH_DOCTEST, "tinymath")
    assert test == (
        "import doctest\n\nimport tinymath\n\n\n"
        "def test_doctests():\n    assert doctest.testmod(tinymath).failed == 0\n"
    )
    (tmp_path / "tinymath.py").write_text(WITH_DOCTEST)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict[str, object] = {}
    exec(compile(test, "test_doctests.py", "exec"), namespace)  # noqa: S102
    namespace["test_doctests"]()  # type: ignore[operator]
    (tmp_path / "wrongmath.py").write_text(WITH_DOCTEST.replace("a + b", "a - b"))
    wrong = doctest_file(WITH_DOCTEST, "wrongmath")
    assert wrong is not None
    namespace = {}
    exec(compile(wrong, "test_doctests.py", "exec"), namespace)  # noqa: S102
    with pytest.raises(AssertionError):
        namespace["test_doctests"]()  # type: ignore[operator]
    sys.modules.pop("tinymath", None)
    sys.modules.pop("wrongmath", None)


def test_doctest_file_only_for_docstring_examples() -> None:
    assert doctest_file("def add(a, b):\n    return a + b\n", "add") is None
    assert doctest_file("# >>> add(1, 2)\ndef add(a, b):\n    return a + b\n", "add") is None
    assert doctest_file(WITH_DOCTEST, "not a module") is None
    assert doctest_file(WITH_DOCTEST, "") is None
    broken = WITH_DOCTEST.replace("return a + b", "return a +")  # still says what it should do
    assert doctest_file(broken, "add") is not None
    assert doctest_file("\x00>>>" * 1000, "add") is None


def test_third_party_and_test_helper_imports_name_nothing() -> None:
    answer = md(
        "'''python\ndef add(a, b):\n    return a + b\n'''\n"
        "'''python\nfrom freezegun import freeze_time\nfrom test_helpers import check\n"
        "from solution import add\n\n\ndef test_add():\n    check(add(1, 2) == 3)\n'''\n"
    )
    assert set(extract_files(answer, "python")) == {"solution.py", "test_solution.py"}
    unrelated = md(
        "'''python\ndef add_numbers(a, b):\n    return a + b\n'''\n"
        "'''python\nfrom add import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n'''\n"
    )
    # the test imports nothing this block defines: the run reports the missing module
    assert set(extract_files(unrelated, "python")) == {"solution.py", "test_solution.py"}
