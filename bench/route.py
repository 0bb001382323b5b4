"""`python -m bench route` (`weavergen route-bench`): does the router learn which model group
to use per task type, and does the failure policy learn to switch instead of retrying?

A throwaway engine (bench/local_engine.py: embedded PostgreSQL, a worker, the real learned
policies with exploration on), the stand-in model scripted by bench/route_script.yaml (NOT a
real model: each group passes the tests at its profile's rate, with its latency and tokens)
and the diagram bench/diagrams/routed (implement with `groups` coder, coder-b, coder-fast →
validate; the test result teaches the router). Runs start `--batch` at a time; each batch
sees every earlier batch's outcomes.

1. Routing: `--runs` function and bug-fix requests in random order, prefer quality. Per
   run, pseudo-regret = the per-context oracle's expected utility − that of the group the
   router chose (engine/policies/bandit.py's utility on the profiles' true pass rate,
   latency and tokens); uniform random choice's is the mean over the groups. Printed per
   block of 50, cumulative.
2. Speed: `--speed-runs` more with the run option `prefer: speed`: the fast group's share
   and the pass rate, each beside the oracle's.
3. Failure policy: coder times out (1 s, no LiteLLM retry) half the time on `feature`
   requests, where, when it answers, it is by far the best group. `--failure-runs`
   feature runs, each beside a function run (whose calls to coder answer), two at a time,
   with the failure policy pinned to a DMN table that always retries (the behaviour before
   learning), then as many learning. In both, a pinned route table sends feature steps to
   coder first, so both phases meet the same timeouts and only the failure policy differs.
   Before/after: what followed a timeout (retry, switch,
   or fail after the last attempt) and the mean run time of the feature runs. Steps get 2
   attempts (`max_attempts`), so one step's timeouts alone never make coder "down" (3
   unanswered calls in a row), which would hide it from the router and the failure policy.

The last line reads `routing: regret R vs random Q (ratio X)`; the target is a ratio of at
most 0.25 by 300 runs (exit 0 when met).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from statistics import fmean
from typing import Any

import yaml
from sqlalchemy import select

from adapters.models import single_endpoint_config
from bench.local_engine import local_engine
from bench.route_sim import (
    FAST,
    GROUPS,
    REQUESTS,
    Outcome,
    Truth,
    oracle,
    pct,
    rate,
    regrets,
    run_batch,
    share,
    truths,
)
from engine.policies.dmn import Rule, table_xml
from engine.settings import ROOT, Settings
from engine.tables import policy_decisions
from standin.script import Script

BLOCK = 50
TARGET = 0.25
TIMEOUT_S = 1.0
WARM_UP = "Warm-up: add(a, b) returning a + b"  # the rules: task type unknown
ACTIONS = ("retry", "switch", "fail")  # after a timeout (fail: it was the last attempt)
Truths = dict[str, dict[str, Truth]]


def requests(rng: random.Random, n: int, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    """n (task type, text) items, the task types in equal shares, shuffled."""
    items = [(kinds[i % len(kinds)], "") for i in range(n)]
    rng.shuffle(items)
    return [(t, rng.choice(REQUESTS[t])) for t, _ in items]


class Tally:
    """Regret of the router's choices and of uniform random choice, cumulative."""

    def __init__(self, truth: Truths, prefer: str) -> None:
        self.truth, self.prefer = truth, prefer
        self.regret = self.random = 0.0
        self.tokens_in: dict[str, list[int]] = {}

    def tokens(self, task_type: str) -> float:
        seen = self.tokens_in.get(task_type) or [0]
        return fmean(seen)

    def add(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            if o.tokens_in:
                self.tokens_in.setdefault(o.task_type, []).append(o.tokens_in)
        for o in outcomes:
            if not o.first:
                continue
            mine, random_ = regrets(
                self.truth[o.task_type], self.prefer, self.tokens(o.task_type), o.first
            )
            self.regret += mine
            self.random += random_

    @property
    def ratio(self) -> float:
        return self.regret / self.random if self.random else 0.0

    def oracle_pass(self, outcomes: list[Outcome]) -> float:
        """The oracle's expected pass rate on these runs' contexts."""
        rates = []
        for o in outcomes:
            per = self.truth[o.task_type]
            rates.append(per[oracle(per, self.prefer, self.tokens(o.task_type))].pass_rate)
        return fmean(rates) if rates else 0.0

    def expected_pass(self, outcomes: list[Outcome]) -> float:
        """The expected pass rate of the groups chosen for these runs."""
        found = [self.truth[o.task_type][o.first].pass_rate for o in outcomes if o.first]
        return fmean(found) if found else 0.0


def _row(first: int, outcomes: list[Outcome], block: list[Outcome], tally: Tally) -> str:
    shares = "".join(f"{pct(share(block, g)):>{max(len(g), 5) + 2}}" for g in GROUPS)
    passed = pct(rate([o.passed for o in block]))
    return (
        f"  {first:>3}-{len(outcomes):<4} {tally.regret:7.1f} {tally.random:7.1f} "
        f"{tally.ratio:6.2f} {passed:>6}{shares}"
    )


async def _phase(
    engine: Any, items: list[tuple[str, str]], prefer: str | None, batch: int
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for i in range(0, len(items), batch):
        outcomes += await run_batch(engine, items[i : i + batch], prefer)
    return outcomes


async def routing(
    engine: Any, items: list[tuple[str, str]], truth: Truths, batch: int
) -> tuple[Tally, list[Outcome]]:
    """Phase 1: the router learns under prefer quality; a row per block of BLOCK runs."""
    tally = Tally(truth, "quality")
    header = "".join(f"{g:>{max(len(g), 5) + 2}}" for g in GROUPS)
    print(f"routing: {len(items)} function and bug-fix runs, {batch} at a time, prefer quality")
    print("  (regret and random's: cumulative; pass rate and shares of the groups: per block)")
    print(f"  runs     regret  random  ratio   pass{header}")
    started = time.monotonic()
    outcomes: list[Outcome] = []
    block: list[Outcome] = []
    while len(outcomes) < len(items):
        i = len(outcomes)
        size = min(batch, BLOCK - len(block))  # batches never straddle two blocks
        done = await run_batch(engine, items[i : i + size], None)
        tally.add(done)
        outcomes += done
        block += done
        if len(block) >= BLOCK or len(outcomes) == len(items):
            print(_row(len(outcomes) - len(block) + 1, outcomes, block, tally), flush=True)
            block = []
    late = outcomes[-min(len(outcomes), 100) :]
    for task_type in ("function", "bug_fix"):
        mine = [o for o in late if o.task_type == task_type]
        best = oracle(truth[task_type], "quality", tally.tokens(task_type))
        shares = ", ".join(f"{g} {pct(share(mine, g))}" for g in GROUPS)
        print(f"  {task_type} (last {len(late)} runs): {shares}; the oracle: {best}")
    print(f"  {len(outcomes)} runs in {time.monotonic() - started:.0f} s")
    return tally, outcomes


async def speed(
    engine: Any,
    items: list[tuple[str, str]],
    batch: int,
    before: Tally,
    routed: list[Outcome],
) -> None:
    """Phase 2: the same router with the run option prefer speed."""
    truth = before.truth
    quality_late = routed[-min(len(routed), 100) :]
    tally = Tally(truth, "speed")
    tally.tokens_in = before.tokens_in
    started = time.monotonic()
    outcomes = await _phase(engine, items, "speed", batch)
    took = time.monotonic() - started
    tally.add(outcomes)
    fast_oracle = [
        oracle(truth[o.task_type], "speed", tally.tokens(o.task_type)) == FAST for o in outcomes
    ]
    fast_quality = [
        oracle(truth[o.task_type], "quality", before.tokens(o.task_type)) == FAST
        for o in quality_late
    ]
    print(f"speed: {len(items)} more runs with the run option prefer=speed ({took:.0f} s)")
    print(
        f"  {FAST} share: {pct(share(quality_late, FAST))} (quality, last "
        f"{len(quality_late)} runs; the oracle {pct(rate(fast_quality))}) -> "
        f"{pct(share(outcomes, FAST))} (speed; the speed oracle {pct(rate(fast_oracle))})"
    )
    print(
        f"  pass rate: quality {pct(rate([o.passed for o in quality_late]))} (expected of the "
        f"choices {pct(before.expected_pass(quality_late))}, the oracle's "
        f"{pct(before.oracle_pass(quality_late))}) -> speed "
        f"{pct(rate([o.passed for o in outcomes]))} (expected of the choices "
        f"{pct(tally.expected_pass(outcomes))}, the speed oracle's "
        f"{pct(tally.oracle_pass(outcomes))})"
    )
    print(
        f"  regret against the speed oracle: {tally.regret:.1f} vs random {tally.random:.1f} "
        f"(ratio {tally.ratio:.2f})"
    )


def _failure_line(label: str, outcomes: list[Outcome]) -> str:
    feature = [o for o in outcomes if o.task_type == "feature"]
    after = [a for o in feature for c, a in o.failures if c == "timeout"]
    then = ", ".join(f"{a} {pct(rate([x == a for x in after])):>5}" for a in ACTIONS)
    seconds = fmean(o.seconds for o in feature) if feature else 0.0
    hit = [o.seconds for o in feature if o.failures]
    incidents = sum(o.status == "incident" for o in feature)
    return (
        f"  {label:<29} {len(feature):>3} runs, {len(after):>3} timeouts, then {then}; mean "
        f"run time {seconds:4.2f} s ({fmean(hit) if hit else 0.0:4.2f} s with a timeout); "
        f"tests passed {pct(rate([o.passed for o in feature])):>5}; incidents {incidents}"
    )


async def _last_estimates(engine: Any) -> str:
    """What the failure policy's last learned decision knew of retry and switch."""
    d = policy_decisions.c
    async with engine.db.connect() as conn:
        evidence = (
            await conn.execute(
                select(d.evidence)
                .where(d.policy == "failure", d.evidence["estimates"].isnot(None))
                .order_by(d.id.desc())
                .limit(1)
            )
        ).scalar()
    estimates = (evidence or {}).get("estimates") or {}
    return "; ".join(
        f"{a}: {e['successes']:g} recovered, {e['failures']:g} not, mean {e['mean_ms'] or 0:.0f} "
        f"ms to the end, utility {e['utility']:.2f}"
        for a, e in estimates.items()
    )


async def failure(engine: Any, pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """Phase 3: before (pinned: always retry) and after (learned) for timeouts on coder;
    each feature run goes with a function run (its model calls to coder answer)."""
    policies = engine.services.policies
    # feature steps go to coder first in both phases (a pinned route table), so both see the
    # same timeouts and only the failure policy differs; function steps are still learned
    first = Rule({"task_type": "feature"}, "coder", "feature steps try coder first")
    await _pin(engine, "route", table_xml("route", [first]))
    always = Rule({}, "retry", "always retry (the behaviour before learning)")
    await _pin(engine, "failure", table_xml("failure", [always]))
    print(
        f"failure policy: coder times out ({TIMEOUT_S:.0f} s) on half its feature requests; "
        f"{len(pairs) // 2} feature runs per phase, each beside a function run"
    )
    started = time.monotonic()
    before = await _phase(engine, pairs, None, 2)
    print(_failure_line("before (pinned: always retry)", before), flush=True)
    await policies.journal.unpin("failure")
    learning = await _phase(engine, pairs, None, 2)
    half = len(learning) // 2
    print(_failure_line("learning, first half", learning[:half]))
    print(_failure_line("after (learning, second half)", learning[half:]))
    down = sum(o.down for o in before + learning)
    print(f"  the failure policy's last estimates: {await _last_estimates(engine)}")
    print(f"  route decisions that found a group down (3 unanswered calls in a row): {down}")
    print(f"  {len(before) + len(learning)} runs in {time.monotonic() - started:.0f} s")
    await policies.journal.unpin("route")

    return _mean_time(before), _mean_time(learning[half:])


async def _pin(engine: Any, policy: str, xml: str) -> None:
    stored = await engine.catalog.binding.add_decision(
        xml.encode(), f"learned_{policy}.dmn", created_by="bench", new_version=True
    )
    await engine.services.policies.journal.set_pin(policy, int(stored["version_id"]), "bench")


def _mean_time(outcomes: list[Outcome]) -> float:
    feature = [o.seconds for o in outcomes if o.task_type == "feature"]
    return fmean(feature) if feature else 0.0


async def _warm(engine: Any) -> None:
    """A call per group and one whole run (task type `unknown`, learned apart) first: the
    first runs' one-time work (imports, template compiles, the first sandbox) blocks the
    event loop long enough to add most of a second to the model times measured meanwhile,
    and an arm's mean latency sets the scale the router divides every latency by."""
    for group in GROUPS:
        await engine.models.complete(group, [{"role": "user", "content": "warm-up"}])
    await run_batch(engine, [("unknown", WARM_UP)], None)


async def bench(args: argparse.Namespace, workdir: Path) -> float:
    from standin.options import StandinOptions
    from standin.runner import StandinThread

    raw = yaml.safe_load((ROOT / "bench" / "route_script.yaml").read_text())
    script = Script.model_validate(raw)
    truth = truths(script)
    standin = StandinThread(StandinOptions(script=script, seed=args.seed)).start()
    models = workdir / "models.yaml"
    models.write_text(
        single_endpoint_config(
            standin.api_base,
            [*GROUPS, "classifier", "embedder"],
            timeout_seconds=TIMEOUT_S,
            num_retries=0,
        )
    )
    # two attempts per step: one step's timeouts alone never make coder "down" (model health:
    # 3 unanswered calls in a row), so the failure phase measures the failure policy
    settings = Settings(
        models_file=models, data_dir=workdir, learning_exploration=True, max_attempts=2
    )
    rng = random.Random(args.seed)  # noqa: S311 - simulation, not security
    started = time.monotonic()
    try:
        async with local_engine(settings, service="weavergen-route-bench", concurrency=8) as (
            engine,
            _,
        ):
            if engine.services.policies is None:
                raise RuntimeError("the engine was built without the learned policies")
            engine.services.policies.rng.seed(args.seed)
            await engine.catalog.sync_folder(ROOT / "bench" / "diagrams" / "routed")
            await _warm(engine)
            kinds = ("function", "bug_fix")
            items = requests(rng, args.runs, kinds)
            tally, routed = await routing(engine, items, truth, args.batch)
            if args.speed_runs:
                items = requests(rng, args.speed_runs, kinds)
                await speed(engine, items, args.batch, tally, routed)
            if args.failure_runs:
                pairs = [
                    (t, rng.choice(REQUESTS[t]))
                    for _ in range(args.failure_runs)
                    for t in ("feature", "function")
                ]
                before, after = await failure(engine, pairs)
                print(
                    f"  mean run time of the feature runs: {before:.2f} s before -> "
                    f"{after:.2f} s after learning"
                )
    finally:
        standin.stop()
    print(f"wall time {time.monotonic() - started:.0f} s (with the engine's start)")
    print(
        f"routing: regret {tally.regret:.1f} vs random {tally.random:.1f} (ratio {tally.ratio:.2f})"
    )
    return tally.ratio


def main(argv: list[str] | None = None) -> int:
    """Command line entry; exit 0 when the routing regret is at most TARGET of random's."""
    parser = argparse.ArgumentParser(
        prog="weavergen route-bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=300, help="routing runs (prefer quality)")
    parser.add_argument("--speed-runs", type=int, default=100, help="then runs with prefer speed")
    parser.add_argument(
        "--failure-runs", type=int, default=60, help="runs per failure-policy phase (0: none)"
    )
    parser.add_argument("--batch", type=int, default=6, help="runs started at once")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.batch < 1:
        parser.error("--runs and --batch must be at least 1")
    workdir = Path(tempfile.mkdtemp(prefix="weavergen-route-bench-"))
    workdir.chmod(0o755)  # the embedded PostgreSQL runs as its own user
    try:
        ratio = asyncio.run(bench(args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
