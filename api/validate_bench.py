"""HumanEval accuracy benchmark of the validation mesh (`weavergen validate-bench --humaneval`).

For each HumanEval problem the mesh validates the reference solution, which must pass its
`tests` stage, and the deliberately broken variants from `standin.humaneval`, which must be
caught: their `tests` stage fails (or hits a sandbox limit), or a gate stage (syntax) fails.
Every Python stage runs for every item; lint, types and security findings on references are
counted and reported but do not count against them.

Each item is validated as two files: ``solution.py`` (the code) and ``test_solution.py``
(imports the entry point, plus any helper of the solution the tests call, then the
problem's ``check`` and ``def test_humaneval(): check(ENTRY)``).

The last line of the output is always
``references passed R/P, broken variants caught B/N, T s``; the exit code is 0 only when
every reference passed and every broken variant was caught.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import builtins
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TextIO

from standin.humaneval import Problem, broken_mutations, load_problems
from validation.python import STAGES as PYTHON_STAGES
from validation.report import Finding, StageResult, ValidationReport

ItemKind = Literal["reference", "broken"]
DEFAULT_TOOLCHAIN = "/opt/weavergen/toolchain"
FAILED_TESTS = ("failed", "limit")
GATES = frozenset(s.name for s in PYTHON_STAGES if s.gate)
BLOCKING = frozenset(s.name for s in PYTHON_STAGES if s.blocking)
STAGE_ORDER = [s.name for s in PYTHON_STAGES]
SHOWN_FAILURES = 25  # references that failed / variants not caught, listed one per line


class Validator(Protocol):
    """What the bench needs of the mesh (`validation.mesh.ValidationMesh`)."""

    async def validate(self, language: str, files: dict[str, str]) -> ValidationReport: ...


@dataclass(frozen=True)
class BenchItem:
    """One validation: a problem's reference (mutation None) or one broken variant."""

    problem: Problem
    kind: ItemKind
    code: str
    mutation: str | None = None

    @property
    def label(self) -> str:
        return self.problem.task_id + (f" [{self.mutation}]" if self.mutation else "")

    def files(self) -> dict[str, str]:
        return {"solution.py": self.code, "test_solution.py": humaneval_test_file(self.problem)}


@dataclass
class ItemResult:
    """The mesh's report on one item (or the error that stopped the validation)."""

    item: BenchItem
    report: ValidationReport | None
    error: str | None = None
    wall_ms: float = 0.0

    def stage(self, name: str) -> StageResult | None:
        if self.report is None:
            return None
        return next((s for s in self.report.stages if s.name == name), None)

    @property
    def tests_status(self) -> str:
        """The tests stage's status ('error' when the validation itself raised)."""
        if self.report is None:
            return "error"
        stage = self.stage("tests")
        return stage.status if stage else "missing"

    @property
    def gate_failed(self) -> bool:
        return self.report is not None and any(
            s.name in GATES and s.status in FAILED_TESTS for s in self.report.stages
        )

    @property
    def tests_passed(self) -> bool:
        """Reference rule: only the tests stage counts."""
        return self.tests_status == "passed"

    @property
    def caught(self) -> bool:
        """Broken-variant rule: tests failed or hit a limit, or a gate stage failed."""
        if self.report is None:
            return False  # the mesh did not judge it; never count that as a catch
        return self.tests_status in FAILED_TESTS or self.gate_failed

    @property
    def correct(self) -> bool:
        """Whether the mesh judged this item as it should."""
        return self.tests_passed if self.item.kind == "reference" else self.caught

    def first_finding(self) -> str:
        """The first finding of the tests stage (else of the report), for the failure list."""
        if self.report is None:
            return f"validation error: {self.error}"
        tests = self.stage("tests")
        findings: list[Finding] = (tests.findings if tests else []) or self.report.findings()
        if findings:
            f = findings[0]
            where = f"{f.file}:{f.line}: " if f.file and f.line else ""
            return f"{where}{f.rule}: {' '.join(f.message.split())[:200]}"
        return f"tests stage {self.tests_status}" + (
            f" ({tests.detail[:120]})" if tests and tests.detail else ""
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.item.problem.task_id,
            "kind": self.item.kind,
            "mutation": self.item.mutation,
            "correct": self.correct,
            "tests_status": self.tests_status,
            "gate_failed": self.gate_failed,
            "wall_ms": round(self.wall_ms, 1),
            "error": self.error,
            "report": self.report.model_dump(mode="json") if self.report else None,
        }


@dataclass
class BenchResult:
    """Everything one bench run measured."""

    problems: int
    concurrency: int
    wall_s: float
    items: list[ItemResult] = field(default_factory=list)

    def of(self, kind: ItemKind) -> list[ItemResult]:
        return [r for r in self.items if r.item.kind == kind]

    @property
    def references_passed(self) -> int:
        return sum(r.tests_passed for r in self.of("reference"))

    @property
    def broken_total(self) -> int:
        return len(self.of("broken"))

    @property
    def broken_caught(self) -> int:
        return sum(r.caught for r in self.of("broken"))

    @property
    def ok(self) -> bool:
        return (
            self.references_passed == self.problems == len(self.of("reference"))
            and self.broken_caught == self.broken_total
        )

    def summary_line(self) -> str:
        return (
            f"references passed {self.references_passed}/{self.problems}, "
            f"broken variants caught {self.broken_caught}/{self.broken_total}, "
            f"{self.wall_s:.1f} s"
        )

    def stage_stats(self) -> dict[str, dict[str, float]]:
        """Per stage: runs, mean and total duration (ms) over the items where it ran."""
        durations: dict[str, list[float]] = {}
        for r in self.items:
            for s in r.report.stages if r.report else []:
                if s.status != "skipped":
                    durations.setdefault(s.name, []).append(s.duration_ms)
        order = STAGE_ORDER + sorted(set(durations) - set(STAGE_ORDER))
        return {
            name: {"runs": len(d), "mean_ms": sum(d) / len(d), "total_ms": sum(d)}
            for name in order
            if (d := durations.get(name))
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": "humaneval",
            "problems": self.problems,
            "concurrency": self.concurrency,
            "wall_s": round(self.wall_s, 3),
            "references_passed": self.references_passed,
            "broken_total": self.broken_total,
            "broken_caught": self.broken_caught,
            "ok": self.ok,
            "stages": self.stage_stats(),
            "items": [r.to_json() for r in self.items],
        }


Progress = Callable[[int, int, ItemResult], None]


# --------------------------------------------------------------------------- items


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def solution_imports(problem: Problem) -> list[str]:
    """Names the test module imports from solution.py: the entry point and the helpers of the
    reference that the tests call (e.g. `poly` for HumanEval/32, `encode_cyclic` for /38)."""
    solution = _top_level_names(ast.parse(problem.prompt + problem.canonical_solution))
    tree = ast.parse(problem.test)
    loaded: set[str] = set()
    bound: set[str] = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    helpers = sorted((loaded - bound) & solution - {problem.entry_point})
    return [problem.entry_point, *helpers]


def humaneval_test_file(problem: Problem) -> str:
    """The pytest file for a problem: its `check` run on the entry point of solution.py."""
    names = ", ".join(solution_imports(problem))
    return (
        f"from solution import {names}\n\n{problem.test.strip()}\n\n\n"
        f"def test_humaneval():\n    check({problem.entry_point})\n"
    )


def bench_items(problems: Sequence[Problem], variants_per_problem: int | None) -> list[BenchItem]:
    """The reference and the broken variants (up to `variants_per_problem`) of each problem."""
    items: list[BenchItem] = []
    for problem in problems:
        items.append(BenchItem(problem, "reference", problem.prompt + problem.canonical_solution))
        mutations = broken_mutations(problem.task_id)
        if variants_per_problem is not None:
            mutations = mutations[:variants_per_problem]
        items.extend(BenchItem(problem, "broken", m.code, m.name) for m in mutations)
    return items


def humaneval_problems(limit: int | None = None) -> list[Problem]:
    """The HumanEval problems in task order (HumanEval/0 …), the first `limit` of them."""
    problems = sorted(load_problems().values(), key=lambda p: int(p.task_id.rsplit("/", 1)[1]))
    return problems if limit is None else problems[:limit]


# --------------------------------------------------------------------------- running


def default_concurrency() -> int:
    """One validation per usable CPU core, plus one: each spends part of its time starting
    processes, so one more keeps the cores busy (measured 20-35 % faster on 2 cores)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, cores) + 1


async def run_items(
    mesh: Validator,
    items: Sequence[BenchItem],
    *,
    problems: int,
    concurrency: int | None = None,
    progress: Progress | None = None,
) -> BenchResult:
    """Validate `items` with `concurrency` validations at once; results keep the item order."""
    workers = max(1, concurrency or default_concurrency())
    results: list[ItemResult | None] = [None] * len(items)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(items)):
        queue.put_nowait(index)
    done = 0

    async def worker() -> None:
        nonlocal done
        while True:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            item = items[index]
            started = time.perf_counter()
            try:
                report = await mesh.validate("python", item.files())
                result = ItemResult(item, report)
            except Exception as exc:  # recorded per item and reported
                result = ItemResult(item, None, error=f"{type(exc).__name__}: {exc}")
            result.wall_ms = (time.perf_counter() - started) * 1000
            results[index] = result
            done += 1
            if progress is not None:
                progress(done, len(items), result)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(workers, len(items)) or 1)))
    wall = time.perf_counter() - start
    return BenchResult(
        problems=problems,
        concurrency=workers,
        wall_s=wall,
        items=[r for r in results if r is not None],
    )


async def run_bench(
    mesh: Validator,
    *,
    limit: int | None = None,
    concurrency: int | None = None,
    variants_per_problem: int | None = None,
    progress: Progress | None = None,
) -> BenchResult:
    """Validate the references and broken variants of the first `limit` HumanEval problems."""
    problems = humaneval_problems(limit)
    items = bench_items(problems, variants_per_problem)
    return await run_items(
        mesh, items, problems=len(problems), concurrency=concurrency, progress=progress
    )


class StderrProgress:
    """A `\\r` counter on a terminal, else a line every `step` items (and at the end)."""

    def __init__(self, stream: TextIO | None = None, step: int = 10) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.step = step
        self.start = time.perf_counter()
        self.wrong = 0

    def __call__(self, done: int, total: int, result: ItemResult) -> None:
        self.wrong += not result.correct
        if not self.tty and done % self.step and done != total:
            return
        text = (
            f"validate-bench: {done}/{total} validated, {self.wrong} misjudged, "
            f"{time.perf_counter() - self.start:.1f} s"
        )
        if self.tty:
            self.stream.write("\r" + text + ("\n" if done == total else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


# --------------------------------------------------------------------------- output


def _blocking_reason(result: ItemResult) -> str:
    """Why the mesh did not pass an item: its first blocking stage that did not pass and that
    stage's first error finding, e.g. `security bandit.B324`."""
    for stage in result.report.stages if result.report else []:
        if stage.name in BLOCKING and stage.status in FAILED_TESTS:
            errors = [f.rule for f in stage.findings if f.severity == "error"]
            return f"{stage.name} {errors[0]}" if errors else f"{stage.name} {stage.status}"
    return "not passed"


def format_result(result: BenchResult) -> list[str]:
    """The human-readable report; the last line is `BenchResult.summary_line()`."""
    refs, broken = result.of("reference"), result.of("broken")
    lines = [
        f"HumanEval validation bench: {result.problems} problems, {len(refs)} references, "
        f"{len(broken)} broken variants, {len(result.items)} validations, "
        f"concurrency {result.concurrency}",
        "",
        "confusion matrix (tests stage):",
        f"  {'':<16}{'passed':>8}{'failed':>8}",
    ]
    for label, rows in (("reference", refs), ("broken variant", broken)):
        passed = sum(r.tests_passed for r in rows)
        lines.append(f"  {label:<16}{passed:>8}{len(rows) - passed:>8}")
    not_passed = [r for r in result.items if not r.tests_passed]
    how: dict[str, int] = {}
    for r in not_passed:
        key = "gate failed, tests not run" if r.gate_failed else f"tests {r.tests_status}"
        how[key] = how.get(key, 0) + 1
    if how:
        lines.append("  (failed = " + ", ".join(f"{k}: {v}" for k, v in sorted(how.items())) + ")")

    lines += ["", "findings on references (reported, not counted against them):"]
    for stage in ("lint", "types", "security"):
        found = [s.findings if (s := r.stage(stage)) else [] for r in refs]
        errors = [sum(f.severity == "error" for f in fs) for fs in found]
        warnings = sum(len(fs) for fs in found) - sum(errors)
        rules: dict[str, int] = {}
        for f in (f for fs in found for f in fs):
            rules[f.rule] = rules.get(f.rule, 0) + 1
        top = sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))[:4]
        lines.append(
            f"  {stage:<9}{sum(errors):>4} errors in {sum(e > 0 for e in errors):>3} "
            f"references, {warnings} warnings"
            + (" (" + ", ".join(f"{k} {v}" for k, v in top) + ")" if top else "")
        )
    rejected = [r for r in refs if r.report is not None and not r.report.passed]
    lines.append(
        f"  mesh verdict `passed` on {len(refs) - len(rejected)}/{len(refs)} references"
        + (": not on " if rejected else "")
        + "; ".join(f"{r.item.problem.task_id} ({_blocking_reason(r)})" for r in rejected[:5])
        + (f"; … {len(rejected) - 5} more" if len(rejected) > 5 else "")
    )

    stats = result.stage_stats()
    summed = sum(s["total_ms"] for s in stats.values())
    validation_ms = [r.report.duration_ms for r in result.items if r.report]
    lines += [
        "",
        "time per stage (over the validations where it ran):",
        f"  {'stage':<10}{'runs':>6}{'mean ms':>10}{'total s':>10}{'share':>8}",
    ]
    for name, stat in stats.items():
        share = stat["total_ms"] / summed if summed else 0.0
        lines.append(
            f"  {name:<10}{stat['runs']:>6.0f}{stat['mean_ms']:>10.1f}"
            f"{stat['total_ms'] / 1000:>10.1f}{share:>8.0%}"
        )
    if validation_ms:
        total_ms = sum(validation_ms)
        overhead = (total_ms - summed) / len(validation_ms)
        lines.append(
            f"  {'session':<10}{len(validation_ms):>6}{overhead:>10.1f}"
            f"{(total_ms - summed) / 1000:>10.1f}{'':>8}  (sandbox work dir, "
            "write, cleanup)"
        )
        lines.append(
            f"  validation mean {total_ms / len(validation_ms):.0f} ms; summed "
            f"{total_ms / 1000:.1f} s over {result.wall_s:.1f} s wall = "
            f"{total_ms / 1000 / result.wall_s if result.wall_s else 0:.2f} at once; "
            f"{len(result.items) / result.wall_s if result.wall_s else 0:.1f} "
            "validations/s"
        )

    for title, wrong in (
        ("references that failed", [r for r in refs if not r.correct]),
        ("broken variants not caught", [r for r in broken if not r.correct]),
    ):
        lines += ["", f"{title}: {len(wrong) or 'none'}"]
        for r in wrong[:SHOWN_FAILURES]:
            detail = (
                r.first_finding()
                if r.item.kind == "reference"
                else (f"tests {r.tests_status}" + (f"; {r.error}" if r.error else ""))
            )
            lines.append(f"  {r.item.label}: {detail}")
        if len(wrong) > SHOWN_FAILURES:
            lines.append(f"  … and {len(wrong) - SHOWN_FAILURES} more (see --json)")
    lines += ["", f"total wall time {result.wall_s:.1f} s", result.summary_line()]
    return lines


# --------------------------------------------------------------------------- command line


def default_mesh() -> Any:
    """The real mesh: the bubblewrap sandbox with the installed toolchain."""
    from adapters.sandbox import Sandbox
    from validation.mesh import ValidationMesh
    from validation.toolchain import Toolchain

    toolchain = Toolchain.at(Path(os.environ.get("WEAVERGEN_TOOLCHAIN_DIR", DEFAULT_TOOLCHAIN)))
    for label, tool in (("python tools", toolchain.python), ("ruff", toolchain.ruff)):
        if not Path(tool).exists():
            raise RuntimeError(f"{label} not found at {tool}; run make install")
    sandbox = Sandbox(read_only=toolchain.read_only_paths())
    sandbox.check()
    return ValidationMesh(sandbox, toolchain)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="weavergen validate-bench",
        description="Accuracy of the validation mesh on HumanEval: references must pass, "
        "broken variants must be caught.",
    )
    p.add_argument(
        "--humaneval",
        action="store_true",
        required=True,
        help="run the HumanEval suite (the only suite for now)",
    )
    p.add_argument("--limit", type=_positive, metavar="N", help="only the first N problems")
    p.add_argument(
        "--concurrency",
        type=_positive,
        metavar="N",
        help=f"validations at once (default: CPU cores, {default_concurrency()})",
    )
    p.add_argument(
        "--variants-per-problem",
        type=_positive,
        metavar="N",
        help="at most N broken variants per problem (default: all)",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="write the full results here")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the bench; 0 when every reference passed and every broken variant was caught."""
    args = parser().parse_args(argv)
    try:
        mesh = default_mesh()
    except Exception as exc:  # a setup failure ends the run with its reason
        print(f"validate-bench: cannot validate: {exc}", file=sys.stderr)
        return 2
    result = asyncio.run(
        run_bench(
            mesh,
            limit=args.limit,
            concurrency=args.concurrency,
            variants_per_problem=args.variants_per_problem,
            progress=StderrProgress(),
        )
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.to_json(), indent=1) + "\n")
    print("\n".join(format_result(result)), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
