"""The validation bench's human-readable report."""

from __future__ import annotations

from bench.validate.results import BLOCKING, FAILED_TESTS, BenchResult, ItemResult

SHOWN_FAILURES = 25  # references that failed / variants not caught, listed one per line


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
        lines.append(
            f"  CPU {result.cpu_s / len(validation_ms):.2f} CPU-s per validation "
            f"({result.cpu_s:.0f} CPU-s of machine busy time over {len(validation_ms)})"
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
