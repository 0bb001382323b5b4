"""`python -m bench classify`: the request classification cascade (rules, then the learned
classifier; no model) over the held-out labelled set bench/classify/bench.jsonl.

Prints the accuracy of what was settled and overall, the share left unsure (which would go
to the classifier model), a confusion matrix, the rules alone for comparison, and ends with
`classify: accuracy A, unsure U of N requests (rules alone: R)`."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from engine.decisions.learned import classify_request, learned
from engine.decisions.rules import rules

BENCH = Path(__file__).with_name("bench.jsonl")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench classify", description=__doc__)
    parser.add_argument("--file", type=Path, default=BENCH, help="labelled JSON-lines requests")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.file.read_text().splitlines() if line.strip()]
    print(f"learned classifier fitted on {learned().size} requests; {len(rows)} to classify")
    right = unsure = rules_right = 0
    by_source: Counter[str] = Counter()
    confusion: Counter[tuple[str, str]] = Counter()
    for row in rows:
        got = classify_request(row["text"])
        by_source[got["source"]] += 1
        rules_right += rules(row["text"])["pattern"] == row["pattern"]
        if got["source"] == "none":
            unsure += 1
            guess = got.get("learned_guess", got["pattern"])
        else:
            guess = got["pattern"]
        right += guess == row["pattern"]
        confusion[(row["pattern"], guess)] += 1
    n = len(rows)
    settled = n - unsure
    settled_right = sum(
        1
        for row in rows
        if (got := classify_request(row["text"]))["source"] != "none"
        and got["pattern"] == row["pattern"]
    )
    print(f"decided by: {dict(by_source)}")
    labels = sorted({p for pair in confusion for p in pair})
    print("confusion (rows: label, columns: answer): " + " ".join(labels))
    for label in labels:
        print(f"  {label:<10} " + " ".join(f"{confusion[(label, a)]:>4}" for a in labels))
    print(f"settled without the model: {settled}/{n}, right {settled_right}/{max(settled, 1)}")
    print(
        f"classify: accuracy {right / n:.3f}, unsure {unsure / n:.3f} of {n} requests "
        f"(rules alone: {rules_right / n:.3f})"
    )
    return 0
