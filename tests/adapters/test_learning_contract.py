"""One contract for every learning store, each against its real server."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from adapters.database import create_engine
from adapters.learning import (
    MAX_BUCKET_S,
    MAX_PREDICTION_PAIRS,
    CandidateOutcome,
    Correction,
    DiagramStats,
    ElementStats,
    ElementVisit,
    FailureFix,
    FlowStats,
    FlowTaken,
    IterationOutcome,
    LatencyStat,
    LearningUnavailable,
    PatternStats,
    PolicyOutcome,
    RunOutcome,
    SeriesPoint,
    StepOutcome,
)
from adapters.learning.postgres import PostgresLearningStore
from bench.serving import free_port


def _tag() -> str:
    return uuid.uuid4().hex[:10]


async def test_pattern_stats_count_runs_per_task_type_and_language(outcome_store: Any) -> None:
    task_type = f"function_{_tag()}"
    outcomes = [("quick", True)] * 3 + [("quick", False)] + [("standard", False)] * 2
    for i, (pattern, success) in enumerate(outcomes):
        await outcome_store.record_run(
            RunOutcome(
                run_id=f"r{i}-{task_type}",
                pattern=pattern,
                language="python",
                task_type=task_type,
                success=success,
                duration_ms=100.0 + i,
                tokens_in=10,
                tokens_out=20,
                iterations=1,
            )
        )
    # other kinds of work are not counted
    await outcome_store.record_run(
        RunOutcome(
            run_id=f"x-{task_type}",
            pattern="quick",
            language="go",
            task_type=task_type,
            success=False,
        )
    )
    await outcome_store.record_run(
        RunOutcome(
            run_id=f"y-{task_type}",
            pattern="quick",
            language="python",
            task_type="other",
            success=False,
        )
    )
    await outcome_store.flush()
    stats = await outcome_store.pattern_stats(task_type, "python")
    assert stats == [
        PatternStats(pattern="quick", successes=3, failures=1),
        PatternStats(pattern="standard", successes=0, failures=2),
    ]
    assert await outcome_store.pattern_stats(f"never_{_tag()}", "python") == []
    assert outcome_store.health().dropped == 0


async def test_iteration_stats(outcome_store: Any) -> None:
    sig = f"tests.failed:assert {_tag()} == N"
    for helped in (True, True, False):
        await outcome_store.record_iteration(
            IterationOutcome(run_id=_tag(), signature=sig, language="python", helped=helped)
        )
    await outcome_store.record_iteration(
        IterationOutcome(run_id=_tag(), signature=sig, language="go", helped=True)
    )
    await outcome_store.flush()
    assert await outcome_store.iteration_stats(sig, "python") == (2, 3)
    assert await outcome_store.iteration_stats(f"unseen {_tag()}", "python") == (0, 0)


async def test_step_outcomes_are_accepted(outcome_store: Any) -> None:
    await outcome_store.record_step(
        StepOutcome(
            run_id=_tag(),
            task_id=_tag(),
            pattern="quick",
            step="validate",
            operator="validate.code",
            model_group="",
            deployment="",
            language="python",
            task_type="function",
            success=True,
            duration_ms=812.5,
            score=0.95,
            attempt=1,
            iteration=2,
        )
    )
    await outcome_store.flush()
    health = outcome_store.health()
    assert health.healthy and health.buffered == 0 and health.dropped == 0


# an hour boundary (and a day boundary: 2024-01-01 00:00 UTC, a Monday)
BASE = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


async def _record_series_runs(store: Any) -> tuple[str, str]:
    """Runs of two patterns (unique to the test) across four hour buckets."""
    tag = _tag()
    alpha, beta = f"{tag}-alpha", f"{tag}-beta"
    runs = [
        (alpha, True, BASE),  # exactly on a bucket start
        (alpha, False, BASE + timedelta(minutes=10)),
        (alpha, True, BASE + HOUR - timedelta(microseconds=1)),  # the bucket's last instant
        (beta, False, BASE + timedelta(minutes=5)),
        (alpha, True, BASE + HOUR),
        (alpha, False, BASE + 2 * HOUR + timedelta(minutes=30)),
        (beta, True, BASE + 3 * HOUR + timedelta(seconds=1)),
        (alpha, True, BASE - timedelta(microseconds=1)),  # the hour before BASE
    ]
    random.Random(7).shuffle(runs)  # recording order must not matter
    for i, (pattern, success, at) in enumerate(runs):
        await store.record_run(
            RunOutcome(
                run_id=f"s{i}-{tag}",
                pattern=pattern,
                language="python" if i % 2 else "go",  # all languages and task types count
                task_type="function" if i % 3 else "bug_fix",
                success=success,
                duration_ms=10.0 * i,
                at=at,
            )
        )
    await store.flush()
    return alpha, beta


def _ours(points: list[SeriesPoint], *patterns: str) -> list[SeriesPoint]:
    # the PostgreSQL tables are shared by the whole session: other tests' runs are there too
    return [p for p in points if p.pattern in patterns]


async def test_run_series_per_pattern_and_bucket(outcome_store: Any) -> None:
    alpha, beta = await _record_series_runs(outcome_store)
    got = _ours(await outcome_store.run_series(BASE - HOUR, 3600), alpha, beta)
    assert got == [
        SeriesPoint(pattern=alpha, bucket=BASE - HOUR, runs=1, successes=1),
        SeriesPoint(pattern=alpha, bucket=BASE, runs=3, successes=2),
        SeriesPoint(pattern=beta, bucket=BASE, runs=1, successes=0),
        SeriesPoint(pattern=alpha, bucket=BASE + HOUR, runs=1, successes=1),
        SeriesPoint(pattern=alpha, bucket=BASE + 2 * HOUR, runs=1, successes=0),
        SeriesPoint(pattern=beta, bucket=BASE + 3 * HOUR, runs=1, successes=1),
    ]
    assert [p.rate for p in got] == [1.0, 2 / 3, 0.0, 1.0, 0.0, 1.0]
    assert all(p.bucket.tzinfo is not None and p.bucket.utcoffset() == timedelta(0) for p in got)
    assert got[1].model_dump()["rate"] == 2 / 3  # the dashboard's JSON carries the rate

    # one day: buckets start at midnight UTC
    got = _ours(await outcome_store.run_series(BASE - HOUR, 86400), alpha, beta)
    assert got == [
        SeriesPoint(pattern=alpha, bucket=BASE - timedelta(days=1), runs=1, successes=1),
        SeriesPoint(pattern=alpha, bucket=BASE, runs=5, successes=3),
        SeriesPoint(pattern=beta, bucket=BASE, runs=2, successes=1),
    ]
    # one week: aligned to the epoch (a Thursday), not to the week's Monday
    got = _ours(await outcome_store.run_series(BASE - HOUR, MAX_BUCKET_S), alpha, beta)
    thursday = datetime(2023, 12, 28, tzinfo=UTC)
    assert got == [
        SeriesPoint(pattern=alpha, bucket=thursday, runs=6, successes=4),
        SeriesPoint(pattern=beta, bucket=thursday, runs=2, successes=1),
    ]
    # 25 minutes: buckets of any length are aligned to the epoch, too (BASE is 1136044.8
    # buckets after it, so they start 20 minutes before BASE, then 5 minutes after, ...)
    got = _ours(await outcome_store.run_series(BASE, 1500), alpha, beta)
    minutes = timedelta(minutes=1)
    assert [(p.pattern, (p.bucket - BASE) / minutes, p.runs, p.successes) for p in got] == [
        (alpha, -20, 1, 1),
        (alpha, 5, 1, 0),
        (beta, 5, 1, 0),  # exactly on a bucket start
        (alpha, 55, 2, 2),
        (alpha, 130, 1, 0),
        (beta, 180, 1, 1),
    ]
    future = _ours(await outcome_store.run_series(datetime.now(UTC) + HOUR, 60), alpha, beta)
    assert future == []
    for bad in (0, -60, MAX_BUCKET_S + 1):
        with pytest.raises(ValueError, match="bucket_s"):
            await outcome_store.run_series(BASE, bad)


async def test_run_series_since_excludes_older_runs(outcome_store: Any) -> None:
    alpha, beta = await _record_series_runs(outcome_store)
    # at or after `since`: the run at BASE + 1 h is in, the one a microsecond earlier is not
    got = _ours(await outcome_store.run_series(BASE + HOUR, 3600), alpha, beta)
    assert got == [
        SeriesPoint(pattern=alpha, bucket=BASE + HOUR, runs=1, successes=1),
        SeriesPoint(pattern=alpha, bucket=BASE + 2 * HOUR, runs=1, successes=0),
        SeriesPoint(pattern=beta, bucket=BASE + 3 * HOUR, runs=1, successes=1),
    ]
    # `since` in the middle of a bucket: that bucket keeps its epoch-aligned start and holds
    # only the runs at or after `since`; another time zone names the same instant
    since = (BASE + 2 * HOUR + timedelta(minutes=15)).astimezone(timezone(timedelta(hours=2)))
    got = _ours(await outcome_store.run_series(since, 3600), alpha, beta)
    assert got == [
        SeriesPoint(pattern=alpha, bucket=BASE + 2 * HOUR, runs=1, successes=0),
        SeriesPoint(pattern=beta, bucket=BASE + 3 * HOUR, runs=1, successes=1),
    ]
    # a run recorded with a later clock (a day ahead) is counted like any other
    ahead = f"{_tag()}-ahead"
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    await outcome_store.record_run(
        RunOutcome(run_id=ahead, pattern=ahead, language="python", success=True, at=later)
    )
    await outcome_store.flush()
    got = _ours(await outcome_store.run_series(later - HOUR, 60), ahead)
    assert got == [SeriesPoint(pattern=ahead, bucket=later.replace(second=0), runs=1, successes=1)]
    # a naive `since` is UTC
    got = _ours(await outcome_store.run_series(BASE.replace(tzinfo=None) + 3 * HOUR, 60), beta)
    assert got == [SeriesPoint(pattern=beta, bucket=BASE + 3 * HOUR, runs=1, successes=1)]


async def _record_steps(store: Any) -> tuple[str, str]:
    tag = _tag()
    coder, fast = f"{tag}-coder", f"{tag}-fast"
    steps: list[tuple[str, float, bool, datetime]] = [
        # 11 calls, 10 .. 110 ms: nearest rank round(0.95 * 11) = 10 -> 100 ms
        # (percentile_disc would say 110, percentile_cont 105)
        (coder, 10.0 * (i + 1), i not in (2, 5, 9), BASE + timedelta(minutes=i))
        for i in range(11)
    ]
    steps += [
        (fast, 2.5, False, BASE + timedelta(seconds=30)),
        (fast, 1.5, True, BASE),  # exactly at `since`
        ("", 99_999.0, False, BASE + timedelta(minutes=1)),  # no model group: not counted
        (coder, 540.0, False, BASE - timedelta(microseconds=1)),  # before `since`
        (fast, 50_000.0, False, BASE - timedelta(days=1)),
    ]
    random.Random(11).shuffle(steps)
    for i, (group, duration, success, at) in enumerate(steps):
        await store.record_step(
            StepOutcome(
                run_id=f"m{i}-{tag}",
                task_id=f"t{i}",
                pattern="quick" if i % 2 else "standard",
                step="implement" if i % 3 else "review",
                operator="llm.generate",
                model_group=group,
                deployment=f"d{i % 2}",  # several series per group in InfluxDB
                language="python",
                task_type="function",
                success=success,
                duration_ms=duration,
                at=at,
            )
        )
    await store.flush()
    return coder, fast


async def test_model_latency_per_model_group(outcome_store: Any) -> None:
    coder, fast = await _record_steps(outcome_store)
    got = await outcome_store.model_latency(BASE)
    assert all(s.model_group for s in got)  # steps without a model group are left out
    assert [s for s in got if s.model_group in (coder, fast)] == [
        LatencyStat(model_group=coder, calls=11, failures=3, mean_ms=60.0, p95_ms=100.0),
        LatencyStat(model_group=fast, calls=2, failures=1, mean_ms=2.0, p95_ms=2.5),
    ]
    # `since` excludes older steps; a group with one call is its own percentile
    got = await outcome_store.model_latency(BASE + timedelta(minutes=9, seconds=30))
    assert [s for s in got if s.model_group in (coder, fast)] == [
        LatencyStat(model_group=coder, calls=1, failures=0, mean_ms=110.0, p95_ms=110.0),
    ]
    got = await outcome_store.model_latency(BASE - timedelta(days=2))
    assert [s for s in got if s.model_group in (coder, fast)] == [
        LatencyStat(model_group=coder, calls=12, failures=4, mean_ms=100.0, p95_ms=110.0),
        LatencyStat(model_group=fast, calls=3, failures=2, mean_ms=16668.0, p95_ms=50_000.0),
    ]


async def test_candidate_stats_per_model_group_task_type_and_language(outcome_store: Any) -> None:
    tag = _tag()
    coder, fast = f"{tag}-coder", f"{tag}-fast"
    function, bug_fix = f"function_{tag}", f"bug_fix_{tag}"
    # (model group, task type, language, passed, predicted)
    candidates: list[tuple[str, str, str, bool, float | None]] = [
        (coder, function, "python", True, 0.9),
        (coder, function, "python", True, None),
        (coder, function, "python", False, 0.8),
        (coder, function, "python", True, 0.6),
        (coder, function, "go", False, 0.4),
        (coder, function, "go", False, None),
        (coder, bug_fix, "python", True, 0.5),
        (fast, function, "python", False, 0.3),
        (fast, function, "python", False, 0.2),
        (fast, function, "python", True, None),
        (fast, bug_fix, "go", True, 0.7),
        (fast, bug_fix, "go", True, 0.1),
    ]
    random.Random(3).shuffle(candidates)  # recording order must not matter
    at = datetime.now(UTC)
    for i, (group, task_type, language, passed, predicted) in enumerate(candidates):
        await outcome_store.record_candidate(
            CandidateOutcome(
                run_id=f"c{i // 3}-{tag}",  # three candidates per consensus step
                task_id=f"t{i // 3}",
                model_group=group,
                task_type=task_type,
                language=language,
                predicted=predicted,
                passed=passed,
                agreement=(i % 3 + 1) / 3,
                at=at if i % 2 else at - timedelta(days=400),  # every time counts
            )
        )
    # the default task type is "unknown"; an empty model group is a group of its own
    await outcome_store.record_candidate(
        CandidateOutcome(
            run_id=f"u-{tag}", task_id="t", model_group=coder, language="python", passed=True
        )
    )
    await outcome_store.record_candidate(
        CandidateOutcome(
            run_id=f"e-{tag}",
            task_id="t",
            model_group="",
            task_type=function,
            language="python",
            passed=False,
        )
    )
    await outcome_store.flush()
    expected = {
        (coder, function, "python"): (3, 4),
        (coder, function, "go"): (0, 2),
        (coder, bug_fix, "python"): (1, 1),
        (coder, bug_fix, "go"): (0, 0),
        (coder, "unknown", "python"): (1, 1),
        ("", function, "python"): (0, 1),
        (fast, function, "python"): (1, 3),
        (fast, function, "go"): (0, 0),
        (fast, bug_fix, "python"): (0, 0),
        (fast, bug_fix, "go"): (2, 2),
        (f"{tag}-never", function, "python"): (0, 0),
        (tag, function, "python"): (0, 0),  # exactly the group, not a prefix of it
    }
    for (group, task_type, language), counts in expected.items():
        got = await outcome_store.candidate_stats(group, task_type, language)
        assert got == counts, (group, task_type, language)
    assert outcome_store.health().dropped == 0


# far after every other test's records: prediction_pairs has no filter but `since`
FUTURE = datetime(2200, 1, 1, tzinfo=UTC)


async def test_prediction_pairs_since_oldest_first_without_none(outcome_store: Any) -> None:
    tag = _tag()
    start = FUTURE + timedelta(hours=random.randrange(100_000))  # ~11 years of unique starts
    minute = timedelta(minutes=1)
    # (at, predicted, passed, model group, task type, language): several series in InfluxDB
    candidates: list[tuple[datetime, float | None, bool, str, str, str]] = [
        (start - timedelta(microseconds=1), 0.9, True, "a", "function", "python"),  # before
        (start, 0.25, False, "a", "function", "python"),  # exactly at `since`
        (start + minute, None, True, "a", "function", "python"),  # no prediction
        (start + 2 * minute, 0.7333333333333333, True, "b", "bug_fix", "python"),
        (start + 3 * minute, 1.0, True, "a", "function", "go"),
        (start + 4 * minute, None, False, "b", "function", "python"),
        (start + 5 * minute, 0.0, False, "b", "function", "go"),
        (start + 6 * minute, 1e-9, True, "", "unknown", "python"),  # no model group
    ]
    random.Random(5).shuffle(candidates)
    for i, (at, predicted, passed, group, task_type, language) in enumerate(candidates):
        await outcome_store.record_candidate(
            CandidateOutcome(
                run_id=f"p{i}-{tag}",
                task_id=f"t{i}",
                model_group=f"{tag}-{group}" if group else "",
                task_type=task_type,
                language=language,
                predicted=predicted,
                passed=passed,
                at=at,
            )
        )
    await outcome_store.flush()
    pairs = [(0.25, False), (0.7333333333333333, True), (1.0, True), (0.0, False), (1e-9, True)]
    got = await outcome_store.prediction_pairs(start)
    assert got == pairs
    assert all(type(p) is float and type(ok) is bool for p, ok in got)
    assert await outcome_store.prediction_pairs(start - timedelta(microseconds=1)) == [
        (0.9, True),
        *pairs,
    ]
    # another time zone names the same instant; a naive `since` is UTC
    since = (start + 2 * minute).astimezone(timezone(timedelta(hours=-5)))
    assert await outcome_store.prediction_pairs(since) == pairs[1:]
    since = (start + 3 * minute + timedelta(microseconds=1)).replace(tzinfo=None)
    assert await outcome_store.prediction_pairs(since) == pairs[3:]
    assert await outcome_store.prediction_pairs(start + 7 * minute) == []
    assert outcome_store.health().dropped == 0


async def test_prediction_pairs_keep_the_most_recent(outcome_store: Any) -> None:
    group = f"{_tag()}-bound"
    start = FUTURE + timedelta(days=20 * 365 + random.randrange(10_000))  # after the test above
    n = MAX_PREDICTION_PAIRS + 5
    for i in range(n):
        await outcome_store.record_candidate(
            CandidateOutcome(
                run_id=f"b{i}-{group}",
                task_id="t",
                model_group=group,
                language="python",
                predicted=i / n,
                passed=i % 2 == 0,
                at=start + timedelta(seconds=i),
            )
        )
        if i % 1000 == 999:
            await outcome_store.flush()  # (InfluxDB's buffer holds 10 000 points)
    # the newest candidates have no prediction: they do not take places within the bound
    for i in range(n, n + 3):
        await outcome_store.record_candidate(
            CandidateOutcome(
                run_id=f"b{i}-{group}",
                task_id="t",
                model_group=group,
                language="python",
                passed=False,
                at=start + timedelta(seconds=i),
            )
        )
    await outcome_store.flush()
    assert await outcome_store.candidate_stats(group, "unknown", "python") == ((n + 1) // 2, n + 3)
    got = await outcome_store.prediction_pairs(start)
    assert got == [(i / n, i % 2 == 0) for i in range(5, n)]
    assert outcome_store.health().dropped == 0


def test_candidate_numbers_must_be_finite() -> None:
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValidationError):
            CandidateOutcome(
                run_id="r",
                task_id="t",
                model_group="g",
                language="python",
                predicted=bad,
                passed=True,
            )
        with pytest.raises(ValidationError):
            CandidateOutcome(
                run_id="r",
                task_id="t",
                model_group="g",
                language="python",
                agreement=bad,
                passed=True,
            )
    outcome = CandidateOutcome(run_id="r", task_id="t", model_group="g", language="py", passed=0)
    assert (outcome.task_type, outcome.predicted, outcome.agreement) == ("unknown", None, 1.0)
    assert outcome.passed is False and outcome.at.tzinfo is not None


async def _record_visits(store: Any) -> str:
    """Visits of a diagram (its id unique to the test) in two versions, and of another
    diagram with the same element ids; recorded over two calls, out of order."""
    diagram = f"d-{_tag()}"
    visits: list[ElementVisit] = []
    flows: list[FlowTaken] = []

    def visit(element: str, run: int, outcome: str, duration: float, **more: Any) -> None:
        more.setdefault("at", BASE + timedelta(minutes=len(visits)))
        visits.append(
            ElementVisit(
                run_id=f"r{run}-{diagram}",
                task_id=f"t{len(visits)}",
                diagram_id=more.pop("diagram", diagram),
                diagram_version=more.pop("version", 1),
                element_id=element,
                kind=more.pop("kind", "ServiceTask"),
                outcome=outcome,
                duration_ms=duration,
                **more,
            )
        )

    # `implement` in version 1: 11 timed visits of 10 .. 110 ms by 4 runs (nearest rank
    # round(0.95 * 11) = 10 -> 100 ms), one failed, one with an incident, one failed with
    # two incidents, and a cancelled one whose duration does not count
    for i in range(11):
        outcome = "failed" if i in (3, 7) else "completed"
        visit(
            "implement",
            i % 4,
            outcome,
            10.0 * (i + 1),
            incidents={5: 1, 7: 2}.get(i, 0),
            tokens_in=100 + i,
            tokens_out=10,
            model_ms=8.5 if i % 2 else None,
        )
    visit("implement", 9, "cancelled", 99_999.0, tokens_in=1)
    # a boundary event that never fired: only cancelled visits, so no durations
    visit("timeout", 0, "cancelled", 500.0, kind="BoundaryEvent")
    visit("timeout", 1, "cancelled", 700.0)
    # version 2 of the same diagram, and another diagram with the same element ids
    visit("implement", 20, "completed", 1000.0, version=2, tokens_out=7, model_ms=2.25)
    visit("gateway", 20, "completed", 0.0, version=2, kind="ExclusiveGateway")
    visit("implement", 30, "failed", 5.0, diagram=f"{diagram}-other")
    # outside the windows the test asks for
    visit("implement", 40, "completed", 1.0, at=BASE - timedelta(microseconds=1))
    visit("implement", 41, "completed", 1.0, at=BASE + timedelta(days=1))

    def flow(gateway: str, flow_id: str, run: int, version: int = 1, **more: Any) -> None:
        flows.append(
            FlowTaken(
                run_id=f"r{run}-{diagram}",
                diagram_id=more.pop("diagram", diagram),
                diagram_version=version,
                gateway=gateway,
                flow=flow_id,
                at=more.pop("at", BASE + timedelta(minutes=len(flows))),
            )
        )

    for run in range(3):
        flow("next_step", "to_accept", run)
    flow("next_step", "to_improve", 0, at=BASE)  # two flows of one run, at the same time
    flow("next_step", "to_accept", 0, at=BASE)
    flow("fork", "to_a", 1)
    flow("next_step", "to_improve", 20, version=2)
    flow("next_step", "to_improve", 30, diagram=f"{diagram}-other")
    flow("next_step", "to_give_up", 40, at=BASE + timedelta(days=1))
    random.Random(13).shuffle(visits)
    half = len(visits) // 2
    await store.record_visits(visits[:half], flows[:3])
    await store.record_visits(visits[half:], flows[3:])
    await store.flush()
    return diagram


async def test_element_stats_per_element_and_flow(outcome_store: Any) -> None:
    diagram = await _record_visits(outcome_store)
    implement_v1 = ElementStats(
        element_id="implement",
        visits=12,
        runs=5,
        completed=9,
        failed=2,
        cancelled=1,
        incidents=2,
        failures=3,
        mean_ms=60.0,
        p95_ms=100.0,
        tokens_in=sum(100 + i for i in range(11)) + 1,
        tokens_out=110,
        model_ms=8.5 * 5,
    )
    timeout = ElementStats(element_id="timeout", visits=2, runs=2, cancelled=2)
    day = BASE + timedelta(hours=23)
    got = await outcome_store.element_stats(diagram, BASE, day, version=1)
    assert got == DiagramStats(
        elements=[implement_v1, timeout],
        flows=[
            FlowStats(gateway="fork", flow="to_a", taken=1),
            FlowStats(gateway="next_step", flow="to_accept", taken=4),
            FlowStats(gateway="next_step", flow="to_improve", taken=1),
        ],
    )
    assert got.elements[0].failure_rate == 3 / 12 and got.elements[1].failure_rate == 0.0
    assert got.model_dump()["elements"][0]["failure_rate"] == 0.25  # the API carries it

    # every version: version 2's visits count too
    got = await outcome_store.element_stats(diagram, BASE, day)
    assert [e.element_id for e in got.elements] == ["gateway", "implement", "timeout"]
    assert got.elements[0] == ElementStats(
        element_id="gateway", visits=1, runs=1, completed=1, mean_ms=0.0, p95_ms=0.0
    )
    implement = got.elements[1]
    assert (implement.visits, implement.runs, implement.completed) == (13, 6, 10)
    assert (implement.p95_ms, implement.tokens_out, implement.model_ms) == (110.0, 117, 44.75)
    assert FlowStats(gateway="next_step", flow="to_improve", taken=2) in got.flows

    got = await outcome_store.element_stats(diagram, BASE, day, version=2)
    assert [(e.element_id, e.visits, e.mean_ms) for e in got.elements] == [
        ("gateway", 1, 0.0),
        ("implement", 1, 1000.0),
    ]
    assert got.flows == [FlowStats(gateway="next_step", flow="to_improve", taken=1)]

    # the window: `since` is in, `until` is out; no `until` is no upper bound; a naive time
    # is UTC and another time zone names the same instant
    got = await outcome_store.element_stats(diagram, BASE - timedelta(microseconds=1), day, 1)
    assert got.elements[0].visits == 13
    got = await outcome_store.element_stats(diagram, BASE, BASE + timedelta(days=1), 1)
    assert got.elements[0].visits == 12 and len(got.flows) == 3
    got = await outcome_store.element_stats(diagram, BASE.replace(tzinfo=None), None, 1)
    assert got.elements[0].visits == 13
    assert FlowStats(gateway="next_step", flow="to_give_up", taken=1) in got.flows
    later = (BASE + timedelta(minutes=13)).astimezone(timezone(timedelta(hours=-3)))
    got = await outcome_store.element_stats(diagram, later, day, 1)
    assert [(e.element_id, e.visits) for e in got.elements] == [("timeout", 1)]

    # the other diagram, one that has none, a version that has none
    got = await outcome_store.element_stats(f"{diagram}-other", BASE, day)
    assert [(e.element_id, e.visits, e.failures) for e in got.elements] == [("implement", 1, 1)]
    assert await outcome_store.element_stats(f"{diagram}-none", BASE, day) == DiagramStats()
    assert await outcome_store.element_stats(diagram, BASE, day, version=3) == DiagramStats()
    assert outcome_store.health().dropped == 0


def test_visit_outcomes_are_checked() -> None:
    with pytest.raises(ValidationError, match="outcome"):
        ElementVisit(
            run_id="r",
            task_id="t",
            diagram_id="d",
            diagram_version=1,
            element_id="e",
            kind="Task",
            outcome="skipped",
        )


@pytest.fixture(params=["postgres", "influxdb"])
async def unreachable_outcome_store(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """An outcome store whose server is not there (nothing listens on the port)."""
    port = free_port()
    if request.param == "postgres":
        db = create_engine(f"postgresql://weavergen@127.0.0.1:{port}/nowhere", pool_size=1)
        yield PostgresLearningStore(db)
        await db.dispose()
        return
    from adapters.learning.influx import InfluxOutcomeStore

    store = InfluxOutcomeStore(f"http://127.0.0.1:{port}", timeout=2.0, flush_timeout=1.0)
    yield store
    await store.close()


async def test_dashboard_queries_raise_learning_unavailable(unreachable_outcome_store: Any) -> None:
    with pytest.raises(LearningUnavailable):
        await unreachable_outcome_store.run_series(BASE, 3600)
    with pytest.raises(LearningUnavailable):
        await unreachable_outcome_store.model_latency(BASE)
    with pytest.raises(LearningUnavailable):
        await unreachable_outcome_store.element_stats("quick", BASE)


async def test_candidate_queries_raise_learning_unavailable(unreachable_outcome_store: Any) -> None:
    with pytest.raises(LearningUnavailable):
        await unreachable_outcome_store.candidate_stats("coder", "function", "python")
    with pytest.raises(LearningUnavailable):
        await unreachable_outcome_store.prediction_pairs(BASE)
    # recording never raises: the candidate is buffered (InfluxDB) or counted as lost
    await unreachable_outcome_store.record_candidate(
        CandidateOutcome(
            run_id="r", task_id="t", model_group="coder", language="python", passed=True
        )
    )
    await unreachable_outcome_store.flush()
    health = unreachable_outcome_store.health()
    assert not health.healthy and health.buffered + health.dropped == 1


async def test_policy_queries_raise_learning_unavailable(unreachable_outcome_store: Any) -> None:
    with pytest.raises(LearningUnavailable):
        await unreachable_outcome_store.policy_stats("route")
    with pytest.raises(LearningUnavailable):
        await unreachable_outcome_store.policy_stats(
            "failure", element="e", failure_class="timeout", since=BASE
        )
    # recording never raises: the outcome is buffered (InfluxDB) or counted as lost
    await unreachable_outcome_store.record_policy(
        PolicyOutcome(
            policy="failure",
            run_id="r",
            task_id="t",
            element="e",
            language="python",
            failure_class="timeout",
            choice="retry",
            success=True,
        )
    )
    await unreachable_outcome_store.flush()
    health = unreachable_outcome_store.health()
    assert not health.healthy and health.buffered + health.dropped == 1


async def test_fixes_for_signatures_newest_first(knowledge_store: Any) -> None:
    sig_a, sig_b = f"ruff.F821:undefined name {_tag()}", f"tests.failed:{_tag()}"
    start = datetime.now(UTC) - timedelta(minutes=5)
    items = [
        FailureFix(
            run_id=_tag(),
            request="add two numbers",
            pattern="quick",
            language="python",
            signature=sig_a,
            fix="import the missing name",
            at=start,
        ),
        FailureFix(
            run_id=_tag(),
            request="fix paginate",
            pattern="bug_fix",
            language="python",
            signature=sig_b,
            fix="slice end was off by one",
            at=start + timedelta(minutes=1),
        ),
        FailureFix(
            run_id=_tag(),
            request="x",
            pattern="quick",
            language="python",
            signature=sig_a,
            fix="",
            at=start + timedelta(minutes=2),
        ),  # unresolved
        FailureFix(
            run_id=_tag(),
            request="x",
            pattern="quick",
            language="go",
            signature=sig_a,
            fix="a Go fix",
            at=start + timedelta(minutes=3),
        ),
        FailureFix(
            run_id=_tag(),
            request='quote " and } {',
            pattern="quick",
            language="python",
            signature=sig_a,
            fix='use "quotes" } verbatim',
            at=start + timedelta(minutes=4),
        ),
    ]
    for item in items:
        await knowledge_store.record_failure_fix(item)
    await knowledge_store.flush()
    found = await knowledge_store.fixes_for([sig_a, sig_b], "python", limit=5)
    assert [f.fix for f in found] == [
        'use "quotes" } verbatim',
        "slice end was off by one",
        "import the missing name",
    ]
    assert found[0].request == 'quote " and } {'
    assert len(await knowledge_store.fixes_for([sig_a, sig_b], "python", limit=2)) == 2
    assert [f.fix for f in await knowledge_store.fixes_for([sig_a], "go")] == ["a Go fix"]
    assert await knowledge_store.fixes_for([], "python") == []


async def test_corrections_in_time_order(knowledge_store: Any) -> None:
    run_id = _tag()
    start = datetime.now(UTC)
    await knowledge_store.record_run(
        RunOutcome(
            run_id=run_id,
            pattern="migration",
            language="python",
            task_type="schema_change",
            success=True,
        ),
        "migrate users.email",
    )
    for i, (approved, comment) in enumerate([(False, "not yet"), (True, "ok now")]):
        await knowledge_store.record_correction(
            Correction(
                run_id=run_id,
                step="approve_migration",
                approved=approved,
                comment=comment,
                at=start + timedelta(seconds=i),
            )
        )
    await knowledge_store.flush()
    got = await knowledge_store.corrections(run_id)
    assert [(c.approved, c.comment, c.step) for c in got] == [
        (False, "not yet", "approve_migration"),
        (True, "ok now", "approve_migration"),
    ]
    assert await knowledge_store.corrections(_tag()) == []
    assert knowledge_store.health().dropped == 0
