"""The classification cascade: rules, then the learned classifier (fitted on the shipped
labelled requests and on patterns people chose), the model only when both are unsure."""

from __future__ import annotations

import json
import subprocess

from engine.decisions import learned
from engine.decisions.learned import classify_request, load_examples, refit
from tests.servers import BIN


def test_shipped_examples_cover_every_pattern() -> None:
    examples = load_examples()
    counts = {p: sum(1 for _, q in examples if q == p) for p in learned.TASK_TYPES}
    assert len(examples) >= 300 and min(counts.values()) >= 50, counts


def test_rules_decide_when_sure_and_the_classifier_when_they_are_not() -> None:
    sure = classify_request("Fix the bug: paginate() crashes with an error on the last page")
    assert (sure["pattern"], sure["source"]) == ("bug_fix", "rules")
    symptom = classify_request(
        "since the last deploy the totals on the invoice page are a cent off"
    )
    assert symptom["source"] in ("learned", "none")
    assert symptom.get("learned_guess", symptom["pattern"]) == "bug_fix"


def test_people_s_choices_teach_it() -> None:
    phrase = "zorble the quux ledger into the frobnitz archive"
    try:
        refit([(f"{phrase} number {i}", "migration") for i in range(30)])
        got = classify_request(phrase)
        assert got["source"] == "learned" and got["pattern"] == "migration", got
    finally:
        refit([])


def test_cli_prints_pattern_task_type_confidence_and_source() -> None:
    out = subprocess.run(
        [
            str(BIN / "weavergen"),
            "classify",
            "Give me a function that reverses a string",
            "--no-model",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(out.stdout)
    assert set(answer) == {"pattern", "task_type", "confidence", "source"}
    assert answer["pattern"] == "quick" and answer["source"] in ("rules", "learned")
