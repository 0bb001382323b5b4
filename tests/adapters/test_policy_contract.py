"""The policy outcomes of the outcome-store contract (learned model routing and the learned
failure policy), each store against its real server (fixtures in conftest.py)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from adapters.learning import (
    MAX_CHOICE_STATS,
    ChoiceStats,
    PolicyOutcome,
)

BASE = datetime(2024, 1, 1, tzinfo=UTC)
# what an element id, a task type or a choice may hold: quotes of both kinds, spaces, the
# characters line protocol escapes, a backslash inside, InfluxQL's `$` and a regex
ODD = 'it\'s "the" step, a=b \\ c $x /.*/'


def _tag() -> str:
    return uuid.uuid4().hex[:10]


def _route(element: str, task_type: str, language: str, choice: str, **more: Any) -> PolicyOutcome:
    return PolicyOutcome(
        policy="route",
        run_id=f"r-{_tag()}",
        task_id="t",
        element=element,
        task_type=task_type,
        language=language,
        choice=choice,
        **more,
    )


def _failure(
    element: str, task_type: str, failure_class: str, choice: str, **more: Any
) -> PolicyOutcome:
    return PolicyOutcome(
        policy="failure",
        run_id=f"f-{_tag()}",
        task_id="t",
        element=element,
        task_type=task_type,
        language="python",
        failure_class=failure_class,
        choice=choice,
        **more,
    )


def _stats(
    element: str,
    task_type: str,
    language: str,
    choice: str,
    successes: int,
    failures: int,
    mean_ms: float,
    mean_tokens: float,
    explored: int = 0,
    failure_class: str = "",
) -> ChoiceStats:
    return ChoiceStats(
        element=element,
        task_type=task_type,
        language=language,
        failure_class=failure_class,
        choice=choice,
        successes=successes,
        failures=failures,
        mean_ms=mean_ms,
        mean_tokens=mean_tokens,
        explored=explored,
    )


def _ours(rows: list[ChoiceStats], *elements: str) -> list[ChoiceStats]:
    # the PostgreSQL tables are shared by the whole session: other tests' outcomes are there
    return [row for row in rows if row.element in elements]


async def _record_contexts(store: Any) -> tuple[str, str, str, str]:
    """Route outcomes of two model groups in two contexts and failure outcomes of two actions
    for two failure classes; recorded out of order. Names unique to the test."""
    tag = _tag()
    implement, review = f"implement-{tag}", f"{ODD} {tag}"
    function, bug_fix = f"function_{tag}", f"bug fix '{tag}'"
    outcomes = [
        # implement / function / python: coder 2 of 3, fast 1 of 2
        _route(implement, function, "python", "coder", success=True, duration_ms=100.0, tokens=10),
        _route(
            implement,
            function,
            "python",
            "coder",
            success=True,
            duration_ms=200.0,
            tokens=20,
            explored=True,
        ),
        _route(implement, function, "python", "coder", success=False, duration_ms=300.0, tokens=30),
        _route(implement, function, "python", "fast", success=True, duration_ms=50.0, tokens=5),
        _route(implement, function, "python", "fast", success=False, duration_ms=150.0, tokens=15),
        # the odd element / bug fix / go: coder 0 of 1 (explored), the odd group 2 of 2
        _route(
            review,
            bug_fix,
            "go",
            "coder",
            success=False,
            duration_ms=400.0,
            tokens=40,
            explored=True,
        ),
        _route(review, bug_fix, "go", ODD, success=True, duration_ms=10.0),
        _route(review, bug_fix, "go", ODD, success=True, duration_ms=30.0),
        # after a failed step of implement: retry 1 of 2 and switch 1 of 1 after a timeout,
        # retry 1 of 1 (explored) after a rate limit
        _failure(implement, function, "timeout", "retry", success=True, duration_ms=1000.0),
        _failure(implement, function, "timeout", "retry", success=False, duration_ms=3000.0),
        _failure(implement, function, "timeout", "switch", success=True, duration_ms=500.0),
        _failure(implement, function, "rate_limit", "retry", success=True, explored=True),
    ]
    random.Random(17).shuffle(outcomes)  # recording order must not matter
    for outcome in outcomes:
        await store.record_policy(outcome)
    await store.flush()
    return implement, review, function, bug_fix


async def test_policy_stats_per_context_and_choice(outcome_store: Any) -> None:
    implement, review, function, bug_fix = await _record_contexts(outcome_store)
    coder_a = _stats(implement, function, "python", "coder", 2, 1, 200.0, 20.0, explored=1)
    fast_a = _stats(implement, function, "python", "fast", 1, 1, 100.0, 10.0)
    coder_b = _stats(review, bug_fix, "go", "coder", 0, 1, 400.0, 40.0, explored=1)
    odd_b = _stats(review, bug_fix, "go", ODD, 2, 0, 20.0, 0.0)
    route = outcome_store.policy_stats

    # each filter alone, and none: rows sorted by (element, task type, language, failure
    # class, choice)
    assert await route("route", element=implement) == [coder_a, fast_a]
    assert await route("route", element=review) == [coder_b, odd_b]
    assert await route("route", task_type=bug_fix) == [coder_b, odd_b]
    assert _ours(await route("route", language="go"), implement, review) == [coder_b, odd_b]
    assert _ours(await route("route", failure_class=""), implement, review) == [
        coder_a,
        fast_a,
        coder_b,
        odd_b,
    ]
    assert _ours(await route("route"), implement, review) == [coder_a, fast_a, coder_b, odd_b]
    # every filter at once; a filter is the exact value, not a prefix or a pattern
    assert await route(
        "route", element=review, task_type=bug_fix, language="go", failure_class=""
    ) == [coder_b, odd_b]
    assert await route("route", element=review, language="python") == []
    assert await route("route", element=implement[:-1]) == []
    assert await route("route", element=".*") == []
    assert await route("route", task_type=function, failure_class="timeout") == []

    timeout_retry = _stats(
        implement, function, "python", "retry", 1, 1, 2000.0, 0.0, failure_class="timeout"
    )
    timeout_switch = _stats(
        implement, function, "python", "switch", 1, 0, 500.0, 0.0, failure_class="timeout"
    )
    limit_retry = _stats(
        implement, function, "python", "retry", 1, 0, 0.0, 0.0, 1, failure_class="rate_limit"
    )
    # the other policy's outcomes are apart
    assert await route("failure", element=implement) == [limit_retry, timeout_retry, timeout_switch]
    assert await route("failure", task_type=function, failure_class="timeout") == [
        timeout_retry,
        timeout_switch,
    ]
    assert await route("failure", element=implement, failure_class="rate_limit") == [limit_retry]
    assert await route("failure", element=review) == []
    assert _ours(await route("failure", language="python"), implement, review) == [
        limit_retry,
        timeout_retry,
        timeout_switch,
    ]
    assert await route("failure", task_type=function, failure_class="") == []
    assert await route(f"other {ODD}", element=implement) == []
    got = await route("route", element=implement)
    assert all(type(s.mean_ms) is float and type(s.mean_tokens) is float for s in got)
    assert outcome_store.health().dropped == 0


async def test_policy_stats_since(outcome_store: Any) -> None:
    element, hour = f"since-{_tag()}", timedelta(hours=1)
    times = [
        (BASE - timedelta(microseconds=1), "a", True),  # just before BASE
        (BASE, "a", False),  # exactly at `since`
        (BASE + hour, "b", True),
        (BASE + 2 * hour, "a", True),
    ]
    for at, choice, success in times:
        await outcome_store.record_policy(
            _route(element, "function", "python", choice, success=success, at=at)
        )
    await outcome_store.flush()

    def counts(rows: list[ChoiceStats]) -> list[tuple[str, int, int]]:
        return [(s.choice, s.successes, s.failures) for s in rows]

    stats = outcome_store.policy_stats
    assert counts(await stats("route", element=element)) == [("a", 2, 1), ("b", 1, 0)]
    assert counts(await stats("route", element=element, since=BASE)) == [("a", 1, 1), ("b", 1, 0)]
    since = BASE - timedelta(microseconds=1)
    assert counts(await stats("route", element=element, since=since)) == [
        ("a", 2, 1),
        ("b", 1, 0),
    ]
    # another time zone names the same instant; a naive `since` is UTC
    since = (BASE + timedelta(minutes=30)).astimezone(timezone(timedelta(hours=-5)))
    assert counts(await stats("route", element=element, since=since)) == [("a", 1, 0), ("b", 1, 0)]
    since = (BASE + hour + timedelta(microseconds=1)).replace(tzinfo=None)
    assert counts(await stats("route", element=element, since=since)) == [("a", 1, 0)]
    assert await stats("route", element=element, since=BASE + 3 * hour) == []
    assert await stats("route", element=element, since=datetime.now(UTC)) == []


async def test_policy_stats_keep_the_most_recent_groups(outcome_store: Any) -> None:
    element = f"bound-{_tag()}"
    start = datetime(2100, 1, 1, tzinfo=UTC)
    n = MAX_CHOICE_STATS + 3
    for i in range(n):  # one group (choice) per outcome, the later the higher
        await outcome_store.record_policy(
            _route(
                element,
                "function",
                "python",
                f"c{i:05d}",
                success=True,
                at=start + timedelta(seconds=i),
            )
        )
        if i % 1000 == 999:
            await outcome_store.flush()  # (InfluxDB's buffer holds 10 000 points)
    # the first group's latest outcome is the most recent of all: it stays
    await outcome_store.record_policy(
        _route(element, "function", "python", "c00000", success=False, at=start + timedelta(days=1))
    )
    await outcome_store.flush()
    got = await outcome_store.policy_stats("route", element=element)
    assert len(got) == MAX_CHOICE_STATS
    assert [s.choice for s in got] == ["c00000", *(f"c{i:05d}" for i in range(4, n))]
    assert (got[0].successes, got[0].failures, got[1].successes) == (1, 1, 1)
    # under the bound, a filter keeps every group it matches
    got = await outcome_store.policy_stats(
        "route", element=element, since=start + timedelta(hours=3)
    )
    assert [(s.choice, s.failures) for s in got] == [("c00000", 1)]
    assert outcome_store.health().dropped == 0


def test_policy_outcome_values_are_checked() -> None:
    for bad in (
        {"duration_ms": float("nan")},
        {"duration_ms": float("inf")},
        {"duration_ms": -1.0},
        {"tokens": -1},
        {"policy": "explore"},
    ):
        with pytest.raises(ValidationError):
            PolicyOutcome.model_validate(
                {
                    "policy": "route",
                    "run_id": "r",
                    "task_id": "t",
                    "element": "e",
                    "language": "python",
                    "choice": "coder",
                    "success": True,
                    **bad,
                }
            )
    outcome = _route("e", "unknown", "python", "coder", success=True)
    assert (outcome.task_type, outcome.failure_class, outcome.duration_ms) == ("unknown", "", 0.0)
    assert (outcome.tokens, outcome.explored, outcome.at.tzinfo is not None) == (0, False, True)
