"""The learned policies' arithmetic and tables without servers: the bandit's choice under
each preference and its exploration bound, group health, and DMN tables written from what
was learned and decided from again (SpiffWorkflow's DMN engine)."""

from __future__ import annotations

import random

from adapters.learning import ChoiceStats
from adapters.model_health import COOL_DOWN_S, DOWN_AFTER, ModelHealth
from engine.diagrams.decisions import load_decision
from engine.policies.bandit import Arm, choose
from engine.policies.dmn import Rule, decide, table_xml
from engine.policies.router import POOLED_WEIGHT, arms_from

GOOD_SLOW = Arm("good", successes=90, failures=10, mean_ms=1000, mean_tokens=800)
FAST_WEAK = Arm("fast", successes=75, failures=25, mean_ms=100, mean_tokens=200)


def test_quality_prefers_success_and_speed_prefers_latency() -> None:
    rng = random.Random(1)
    quality = choose([GOOD_SLOW, FAST_WEAK], "quality", rng, explore=False)
    speed = choose([GOOD_SLOW, FAST_WEAK], "speed", rng, explore=False)
    cost = choose([GOOD_SLOW, FAST_WEAK], "cost", rng, explore=False)
    assert (quality.choice, speed.choice, cost.choice) == ("good", "fast", "fast")
    assert not quality.explored and "best expected utility" in quality.why
    assert quality.estimates["good"]["success_mean"] > quality.estimates["fast"]["success_mean"]
    assert speed.estimates["fast"]["mean_ms"] == 100.0


def test_thompson_tries_every_arm_and_settles_on_the_best() -> None:
    rng = random.Random(7)
    truth = {"a": 0.9, "b": 0.5, "c": 0.3}
    wins = {k: 0 for k in truth}
    losses = {k: 0 for k in truth}
    picks = []
    for _ in range(300):
        arms = [Arm(k, wins[k], losses[k]) for k in truth]
        picked = choose(arms, "quality", rng)
        picks.append(picked.choice)
        if rng.random() < truth[picked.choice]:
            wins[picked.choice] += 1
        else:
            losses[picked.choice] += 1
    assert set(picks[:30]) == {"a", "b", "c"}  # every arm tried early
    assert picks[-100:].count("a") >= 85


def test_exploration_is_bounded_by_the_share() -> None:
    arms = [Arm("best", 8, 2), Arm("other", 5, 5)]
    explored = sum(
        choose(arms, "quality", random.Random(i), explored_share=0.5).explored for i in range(200)
    )
    assert explored == 0  # the share is spent: only the best
    free = sum(choose(arms, "quality", random.Random(i)).explored for i in range(200))
    assert free > 10


def test_arms_pool_other_steps_at_half_weight() -> None:
    rows = [
        ChoiceStats(
            element="implement",
            task_type="function",
            language="python",
            failure_class="",
            choice="coder",
            successes=4,
            failures=0,
            mean_ms=100,
            mean_tokens=10,
            explored=1,
        ),
        ChoiceStats(
            element="fix",
            task_type="function",
            language="python",
            failure_class="",
            choice="coder",
            successes=0,
            failures=4,
            mean_ms=300,
            mean_tokens=30,
            explored=0,
        ),
    ]
    [arm, fresh], share = arms_from(rows, ["coder", "coder-b"], "implement", {"coder-b": 1.0})
    assert arm.successes == 4 and arm.failures == 4 * POOLED_WEIGHT
    assert arm.mean_ms == (4 * 100 + 2 * 300) / 6
    assert fresh.tries == 0 and fresh.prior == 1.0 and share == 0.25


def test_a_group_is_down_after_consecutive_unanswered_calls() -> None:
    now = [100.0]
    health = ModelHealth(clock=lambda: now[0])
    for _ in range(DOWN_AFTER - 1):
        health.failed("coder", "timeout", "timed out")
    assert health.down("coder") is None
    health.failed("coder", "bad_request", "too long")  # says nothing about health
    assert health.down("coder") is None
    health.failed("coder", "unavailable", "503")
    assert "unanswered" in (health.down("coder") or "")
    now[0] += COOL_DOWN_S + 1
    assert health.down("coder") is None  # tried again after the cool-down
    health.failed("coder", "unavailable", "503")
    health.answered("coder")
    assert health.down("coder") is None


def test_a_learned_table_is_valid_dmn_and_decides_as_written() -> None:
    rules = [
        Rule(
            {"element": "implement", "task_type": "bug_fix", "language": "python"},
            "coder-b",
            "coder-b: 12 of 14 succeeded",
        ),
        Rule({"element": "implement"}, "coder", "any other request"),
    ]
    xml = table_xml("route", rules)
    assert load_decision(xml.encode(), "learned_route.dmn").decision_id == "learned_route"
    bug = {"element": "implement", "task_type": "bug_fix", "language": "python"}
    assert decide(xml, "route", bug).output == "coder-b"
    other = decide(xml, "route", {**bug, "task_type": "function"})
    assert (other.output, other.rule) == ("coder", 2)
    assert decide(xml, "route", {**bug, "element": "fix"}).output is None
    broken = decide(xml.replace('"coder"', "coder +"), "route", {**bug, "task_type": "x"})
    assert broken.output is None and "Malformed" in broken.error


def test_values_with_quotes_stay_literal() -> None:
    xml = table_xml("failure", [Rule({"failure_class": 'a"b', "element": "x'y"}, "switch", "")])
    assert decide(xml, "failure", {"failure_class": 'a"b', "element": "x'y"}).output == "switch"
    assert decide(xml, "failure", {"failure_class": "ab", "element": "x'y"}).output is None
