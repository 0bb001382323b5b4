"""Consensus: candidates group by normalized code; formatting never splits, behaviour does."""

from __future__ import annotations

import pytest

from engine.decisions.grouping import (
    Candidate,
    code_files,
    group_candidates,
    normalized_tokens,
    similarity,
)

PY = """
def has_close_elements(numbers, threshold):
    for idx, elem in enumerate(numbers):
        for idx2, elem2 in enumerate(numbers):
            if idx != idx2:
                distance = abs(elem - elem2)
                if distance < threshold:
                    return True
    return False


def label(x):
    return "close" if x else "far"
"""

PY_REFORMATTED = '''"""Module docstring."""


def has_close_elements(numbers,
                       threshold):
    """Check if any two numbers are closer than the threshold."""
    for (idx, elem) in enumerate(numbers):  # every pair
        for idx2, elem2 in enumerate(numbers):
            # not with itself
            if (idx != idx2):
                distance = abs((elem - elem2))
                if distance < (threshold):
                    return True
    return False
def label(x):
    return 'close' if x else 'far'  # single quotes
'''


def py(source: str, index: int = 0, tests: str = "") -> Candidate:
    files = {"solution.py": source}
    if tests:
        files["test_solution.py"] = tests
    return Candidate(index=index, model_group=f"group{index}", files=files)


def group_members(language: str, candidates: list[Candidate], **kw: float) -> list[list[int]]:
    return [g.members for g in group_candidates(language, candidates, **kw)]


def test_python_formatting_comments_docstrings_and_quotes_do_not_split() -> None:
    a = normalized_tokens("python", {"solution.py": PY})
    assert a == normalized_tokens("python", {"solution.py": PY_REFORMATTED})
    assert a == normalized_tokens("python", {"solution.py": PY.replace('"', "'")})
    assert group_members("python", [py(PY, 0), py(PY_REFORMATTED, 1)]) == [[0, 1]]


@pytest.mark.parametrize(
    "old, new",
    [
        ("distance < threshold", "distance <= threshold"),
        ("elem - elem2", "elem + elem2"),
        ("return True", "return False"),
        ('"close"', '"near"'),
    ],
)
def test_a_semantic_change_splits_at_the_default_threshold(old: str, new: str) -> None:
    changed = PY.replace(old, new)
    assert changed != PY
    assert group_members("python", [py(PY, 0), py(changed, 1)]) == [[0], [1]]


def test_a_lower_threshold_groups_near_duplicates_even_when_they_behave_differently() -> None:
    """Why the default is exact: one operator is well under 5% of a realistic program."""
    changed = PY.replace("distance < threshold", "distance <= threshold")
    a = normalized_tokens("python", {"s.py": PY})
    b = normalized_tokens("python", {"s.py": changed})
    assert 0.95 < similarity(a, b) < 1.0
    assert group_members("python", [py(PY, 0), py(changed, 1)], threshold=0.95) == [[0, 1]]


def test_test_files_are_ignored() -> None:
    files = {
        "solution.py": PY,
        "test_solution.py": "def test_a():\n    assert True\n",
        "solution_test.py": "x = 1\n",
        "conftest.py": "import pytest\n",
        "pkg/tests/test_deep.py": "y = 2\n",
        "README.md": "# notes",
    }
    assert list(code_files("python", files)) == ["solution.py"]
    a = py(PY, 0, tests="def test_one():\n    assert has_close_elements([1.0], 0.5) is False\n")
    b = py(PY_REFORMATTED, 1, tests="import pytest\n\ndef test_other(): pass\n")
    assert group_members("python", [a, b]) == [[0, 1]]
    assert code_files(
        "javascript", {"a.js": "", "a.test.js": "", "b.spec.mjs": "", "test_c.js": ""}
    ) == {"a.js": ""}
    assert code_files("go", {"main.go": "", "main_test.go": "", "go.mod": ""}) == {"main.go": ""}
    assert code_files("cobol", {"a.cbl": "", "t.cbl": ""}) == {"a.cbl": "", "t.cbl": ""}
    cobol = [Candidate(i, "g", {"a.cbl": src}) for i, src in enumerate(["A B", "A  B\n", "A C"])]
    assert group_members("cobol", cobol) == [[0, 1], [2]]


@pytest.mark.parametrize(
    "source",
    [
        "def f(x:\n    return x +\n",
        'x = """never closed\n',
        "def f():\n\treturn 1\n        return 2\n",
        "\x00\x01 garbage ))) ((( '",
        "x = 1\n" * 3 + "(" * 500 + ")" * 500,
        "\ud800 lone surrogate",
    ],
)
def test_code_that_does_not_parse_still_normalizes_deterministically(source: str) -> None:
    tokens = normalized_tokens("python", {"s.py": source})
    assert tokens == normalized_tokens("python", {"s.py": source})
    groups = group_candidates("python", [py(source, 0), py(source, 1), py(PY, 2)])
    assert [g.members for g in groups] == [[0, 1], [2]]
    assert groups[0].fingerprint == group_candidates("python", [py(source, 5)])[0].fingerprint


def test_syntax_error_fallback_ignores_comments_and_layout() -> None:
    broken = "def f(x):\n    return x +  # oops\n\n"
    assert normalized_tokens("python", {"s.py": broken}) == normalized_tokens(
        "python", {"s.py": "def f(x):\n  return x +\n"}
    )


JS = """
// sum of the even numbers
function sumEven(xs) {
  let total = 0;
  for (const x of xs) {
    if (x % 2 === 0) {
      total += x;
    }
  }
  return total;
}

const greeting = 'hello';
module.exports = { sumEven, greeting, };
"""

JS_NO_SEMICOLONS = """/* no semicolons, double quotes */
function sumEven(xs) {
    let total = 0
    for (const x of xs) { if (x % 2 === 0) { total += x } }
    return total
}
const greeting = "hello"
module.exports = { sumEven, greeting }
"""


def js(source: str, index: int) -> Candidate:
    return Candidate(index, "g", {"index.js": source, "index.test.js": f"// {index}"})


def test_javascript_semicolons_quotes_comments_and_trailing_commas_do_not_split() -> None:
    assert normalized_tokens("javascript", {"index.js": JS}) == normalized_tokens(
        "javascript", {"index.js": JS_NO_SEMICOLONS}
    )
    assert group_members("javascript", [js(JS, 0), js(JS_NO_SEMICOLONS, 1)]) == [[0, 1]]
    assert normalized_tokens("javascript", {"a.js": "x = 'it\\'s'"}) == normalized_tokens(
        "javascript", {"a.js": 'x = "it\'s"'}
    )


def test_javascript_operator_change_splits() -> None:
    changed = JS_NO_SEMICOLONS.replace("===", "!==")
    assert group_members("javascript", [js(JS, 0), js(changed, 1)]) == [[0], [1]]


def test_javascript_strings_regexes_and_templates_are_single_tokens() -> None:
    tokens = normalized_tokens(
        "javascript",
        {
            "a.js": "const u = /https?:\\/\\//g; const t = `a // b ${x}`; const s = 'x /* y */'; y = a / b / c"
        },
    )
    assert "/https?:\\/\\//g" in tokens
    assert "`a // b ${x}`" in tokens
    assert '"x /* y */"' in tokens
    assert tokens[-5:] == ("a", "/", "b", "/", "c")


GO_FMT = """package main

import "fmt"

// Limit is the largest allowed value.
const Limit = 10

type Point struct {
	X, Y int
}

func Clamp(values []int) []int {
	out := []int{}
	for _, v := range values {
		if v > Limit {
			v = Limit
		}
		out = append(out, v)
	}
	return out
}

func main() {
	p := Point{
		X: 1,
		Y: 2,
	}
	fmt.Println(Clamp([]int{1, 20}), p)
}
"""

GO_COMPACT = """package main
import "fmt"
const Limit = 10
type Point struct { X, Y int }
func Clamp(values []int) []int {
    out := []int{}; for _, v := range values { if v > Limit { v = Limit }; out = append(out, v) }
    return out
}
func main() { p := Point{X: 1, Y: 2}; fmt.Println(Clamp([]int{1, 20}), p) }
"""


def go(source: str, index: int) -> Candidate:
    return Candidate(index, "g", {"main.go": source, "main_test.go": f"package main // {index}"})


def test_go_formatting_does_not_split_and_a_changed_constant_does() -> None:
    assert normalized_tokens("go", {"main.go": GO_FMT}) == normalized_tokens(
        "go", {"main.go": GO_COMPACT}
    )
    changed = GO_FMT.replace("const Limit = 10", "const Limit = 100")
    assert group_members("go", [go(GO_FMT, 0), go(GO_COMPACT, 1), go(changed, 2)]) == [
        [0, 1],
        [2],
    ]


def test_go_runes_and_raw_strings_are_single_tokens() -> None:
    tokens = normalized_tokens("go", {"a.go": "r := ';'; s := `a // b`; t := \"c /* d\""})
    assert "';'" in tokens and "`a // b`" in tokens and '"c /* d"' in tokens


def test_two_agree_one_differs() -> None:
    other = PY.replace("elem - elem2", "elem2 - elem")
    groups = group_candidates("python", [py(PY, 0), py(other, 1), py(PY_REFORMATTED, 2)])
    assert [(g.members, g.representative) for g in groups] == [([0, 2], 0), ([1], 1)]
    assert groups[0].fingerprint != groups[1].fingerprint


def test_a_candidate_joins_the_most_similar_group() -> None:
    a = PY
    b = PY.replace('"close"', '"near"').replace('"far"', '"away"')  # two changes from a
    c = b.replace("return False", "return None")  # three from a, one from b
    ta, tb, tc = (normalized_tokens("python", {"s.py": s}) for s in (a, b, c))
    assert similarity(ta, tc) < similarity(tb, ta) < similarity(tb, tc)
    threshold = (similarity(ta, tc) + similarity(tb, ta)) / 2
    groups = group_candidates("python", [py(a, 0), py(c, 1), py(b, 2)], threshold=threshold)
    assert [g.members for g in groups] == [[0], [1, 2]]
    assert [g.members for g in group_candidates("python", [py(a, 0), py(c, 1), py(b, 2)])] == [
        [0],
        [1],
        [2],
    ]


def test_empty_files_and_no_candidates() -> None:
    assert group_candidates("python", []) == []
    assert normalized_tokens("python", {}) == ()
    assert normalized_tokens("go", {"main.go": ""}) == ()
    assert normalized_tokens("javascript", {"a.js": "   // only a comment\n"}) == ()
    groups = group_candidates(
        "python",
        [
            Candidate(0, "a", {}),
            Candidate(1, "b", {"test_x.py": "def test(): pass"}),
            Candidate(2, "c", {"s.py": PY}),
        ],
    )
    assert [g.members for g in groups] == [[0, 1], [2]]
    assert similarity((), ()) == 1.0
    assert similarity((), ("a",)) == 0.0


def test_files_are_compared_in_path_order_without_their_paths() -> None:
    one = {"a.py": "x = 1\n", "b.py": "y = 2\n"}
    assert normalized_tokens("python", one) == normalized_tokens(
        "python", {"b.py": "y = 2\n", "a.py": "x = 1\n"}
    )
    assert normalized_tokens("python", one) == normalized_tokens(
        "python", {"m.py": "x = 1\n", "n.py": "y = 2\n"}
    )
    assert normalized_tokens("python", one) != normalized_tokens(
        "python", {"a.py": "x = 1\ny = 2\n"}
    )


def test_fingerprint_is_stable() -> None:
    first = group_candidates("python", [py(PY, 0)])[0].fingerprint
    again = group_candidates("python", [py(PY_REFORMATTED, 7)])[0].fingerprint
    assert first == again
    assert len(first) == 12 and int(first, 16) >= 0
    # a fixed value: the fingerprint must not change between runs or processes
    assert group_candidates("python", [py("x = 1\n", 0)])[0].fingerprint == "7fafa8a34920"


def test_similarity_of_long_sequences_uses_the_multiset_overlap() -> None:
    a = tuple(f"t{i % 50}" for i in range(3000))
    b = a[1:] + ("extra",)
    s = similarity(a, b)
    assert s == pytest.approx(2 * 2999 / 6000)
    assert similarity(("a", "b", "c", "d"), ("a", "b", "x", "d")) == pytest.approx(0.75)
