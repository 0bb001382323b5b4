"""What `bench.route` needs beside its phases: the requests per task type, the true
parameters of each model group (the stand-in profiles of bench/route_script.yaml) and the
utility and regret they imply, and running a batch of runs on the engine and reading back
what the learned policies chose (`policy_decisions`) and how each run went."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any
from uuid import UUID

from sqlalchemy import select

from engine.policies.bandit import PREFERENCES
from engine.runs import RunRequest
from engine.tables import policy_decisions, runs, steps
from standin.profiles import ProfileDice
from standin.script import Script

GROUPS = ("coder", "coder-b", "coder-fast")
FAST = "coder-fast"
DIAGRAM = "routed"
ENDED = ("completed", "failed", "cancelled", "incident")
REQUESTS: dict[str, tuple[str, ...]] = {
    "function": (
        "Write a function add(a, b) that returns the sum of a and b",
        "Write a function add(a, b) returning a plus b",
        "Write a function add(a, b) to add two numbers",
    ),
    "bug_fix": (
        "Fix the off-by-one bug in add(a, b): it returns a + b + 1",
        "Fix the bug in add(a, b), which gives a wrong sum",
        "Fix add(a, b): a bug makes the sum wrong",
    ),
    # the failure policy's simulation: coder hangs half the time on these
    "feature": (
        "Write a cli module for the calculator service with add(a, b)",
        "Write a cli module with add(a, b) for the calculator app",
        "Write a cli module exposing add(a, b) in the library",
    ),
}


@dataclass(frozen=True)
class Truth:
    """A group's true behaviour in one context (its stand-in profile)."""

    pass_rate: float
    latency_ms: float
    tokens_out: float
    timeout_rate: float


def truths(script: Script) -> dict[str, dict[str, Truth]]:
    """Task type -> group -> the profile the stand-in applies to that group's prompts."""
    dice = ProfileDice(script.profiles)
    found: dict[str, dict[str, Truth]] = {}
    for task_type, texts in REQUESTS.items():
        prompt = f"TEMPLATE: implement\nRequest: {texts[0]}\n"
        per: dict[str, Truth] = {}
        for group in GROUPS:
            index = dice.find(prompt, group)
            if index is None:
                raise ValueError(f"route_script.yaml has no profile for {group} on {task_type}")
            p = script.profiles[index]
            per[group] = Truth(
                p.pass_rate if p.pass_rate is not None else 0.5,
                p.latency_ms or 0.0,
                float(p.tokens_out or 0),
                p.timeout_rate or 0.0,
            )
        found[task_type] = per
    return found


def utilities(per: dict[str, Truth], prefer: str, tokens_in: float) -> dict[str, float]:
    """Each group's expected utility under `prefer`, the formula of engine/policies/bandit.py
    (latency and tokens divided by the largest among the groups) on the true parameters."""
    w_ms, w_tokens = PREFERENCES[prefer]
    max_ms = max(t.latency_ms for t in per.values()) or 1.0
    max_tokens = max(tokens_in + t.tokens_out for t in per.values()) or 1.0
    return {
        g: t.pass_rate
        - w_ms * t.latency_ms / max_ms
        - w_tokens * (tokens_in + t.tokens_out) / max_tokens
        for g, t in per.items()
    }


def oracle(per: dict[str, Truth], prefer: str, tokens_in: float) -> str:
    """The group with the best expected utility (the per-context oracle's choice)."""
    u = utilities(per, prefer, tokens_in)
    return max(u, key=lambda g: u[g])


def regrets(
    per: dict[str, Truth], prefer: str, tokens_in: float, chosen: str
) -> tuple[float, float]:
    """(pseudo-regret of choosing `chosen`, uniform random choice's expected regret)."""
    u = utilities(per, prefer, tokens_in)
    best = max(u.values())
    return best - u[chosen], fmean(best - v for v in u.values())


@dataclass
class Outcome:
    """One finished run as the bench sees it."""

    task_type: str
    status: str
    seconds: float
    routes: list[str] = field(default_factory=list)  # the router's choices, in order
    down: int = 0  # route decisions that found some group down
    failures: list[tuple[str, str]] = field(default_factory=list)  # (failure class, action)
    passed: bool = False  # the validation's tests ran and all passed
    tokens_in: int = 0

    @property
    def first(self) -> str:
        """The router's first choice for the run ("" if it never routed)."""
        return self.routes[0] if self.routes else ""


async def _wait(engine: Any, started: dict[UUID, float], timeout: float) -> dict[UUID, float]:
    """Wait until every run ended; the seconds from each one's start until it was seen
    ended (polled every 50 ms: the same for a completed run and one that raised an
    incident, which the database does not time alike)."""
    took: dict[UUID, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = [i for i in started if i not in took]
        async with engine.db.connect() as conn:
            done = (
                await conn.execute(
                    select(runs.c.id).where(runs.c.id.in_(waiting), runs.c.status.in_(ENDED))
                )
            ).all()
        now = time.monotonic()
        for (run_id,) in done:
            took[run_id] = now - started[run_id]
        if len(took) == len(started):
            return took
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{len(started) - len(took)} runs did not end within {timeout:.0f} s")


async def _outcome(engine: Any, run_id: UUID, task_type: str, seconds: float) -> Outcome:
    d = policy_decisions.c
    async with engine.db.connect() as conn:
        status = (await conn.execute(select(runs.c.status).where(runs.c.id == run_id))).scalar()
        decisions = (
            await conn.execute(
                select(d.policy, d.choice, d.context, d.evidence)
                .where(d.run_id == run_id)
                .order_by(d.id)
            )
        ).all()
        results = dict(
            (
                await conn.execute(
                    select(steps.c.element_id, steps.c.result).where(
                        steps.c.run_id == run_id, steps.c.element_id.in_(("implement", "validate"))
                    )
                )
            ).all()
        )
    out = Outcome(task_type, str(status), seconds)
    for policy, choice, context, evidence in decisions:
        if policy == "route":
            out.routes.append(str(choice))
            out.down += bool((evidence or {}).get("down"))
        elif policy == "failure":
            out.failures.append((str((context or {}).get("failure_class", "")), str(choice)))
    report = results.get("validate") or {}
    total = int(report.get("tests_total") or 0)
    out.passed = total > 0 and int(report.get("tests_passed") or 0) == total
    out.tokens_in = int((results.get("implement") or {}).get("tokens_in") or 0)
    return out


async def run_batch(
    engine: Any, items: list[tuple[str, str]], prefer: str | None, timeout: float = 180.0
) -> list[Outcome]:
    """Start runs of the routed diagram for (task type, text) items at once, wait until all
    ended, and read back what happened."""
    options: dict[str, Any] = {"prefer": prefer} if prefer else {}
    started: dict[UUID, float] = {}
    for _, text in items:
        at = time.monotonic()
        request = RunRequest.model_validate({"text": text, "diagram": DIAGRAM, "options": options})
        started[await engine.runs.start(request, created_by="bench")] = at
    took = await _wait(engine, started, timeout)
    return [await _outcome(engine, i, t, took[i]) for i, (t, _) in zip(started, items, strict=True)]


def share(outcomes: list[Outcome], group: str) -> float:
    """The share of runs whose first route choice was `group`."""
    return sum(o.first == group for o in outcomes) / len(outcomes) if outcomes else 0.0


def rate(flags: list[bool]) -> float:
    """The share of true values (0 for none)."""
    return sum(flags) / len(flags) if flags else 0.0


def pct(value: float) -> str:
    """A share as a whole percentage."""
    return f"{value * 100:.0f} %"
