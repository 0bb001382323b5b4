"""Conformance with SpiffWorkflow over its own test diagrams (`../shared/conformance/
spiff-tests/`, unmodified): every diagram raw SpiffWorkflow 3.2 runs to completion with the
naive driver (ready user and manual tasks completed with empty data, timers left to fire)
must also complete through WeaverGen's API (durable state, service and script tasks as
jobs; scripts allowed, as an admin would for diagrams they trust). The same driver for
both, no file special-cased. `python -m bench conformance` prints the counts."""

from __future__ import annotations

import httpx
import pytest

from bench.conformance import CORPUS, run_spiff, run_weavergen

assert CORPUS.is_dir(), f"the conformance corpus {CORPUS} is missing: clone ../shared beside"
FILES = sorted(p for p in CORPUS.iterdir() if p.name.endswith((".bpmn", ".bpmn20.xml")))
RAW = {path.name: run_spiff(path) for path in FILES}  # ~2 s: only timers make it wait
COMPLETED = sorted(name for name, (status, _) in RAW.items() if status == "completed")


def test_the_corpus_has_diagrams_spiffworkflow_completes() -> None:
    assert len(FILES) >= 100 and len(COMPLETED) >= 33, (len(FILES), COMPLETED)


@pytest.mark.parametrize("name", COMPLETED)
def test_diagram_completes_as_in_spiffworkflow(scripts_api: httpx.Client, name: str) -> None:
    process_id = RAW[name][1]
    assert process_id is not None
    status, reason = run_weavergen(scripts_api, CORPUS / name, process_id)
    assert status == "completed", reason


def test_every_corpus_file_is_answered_with_a_verdict_never_a_500(
    scripts_api: httpx.Client,
) -> None:
    """Files SpiffWorkflow refuses or cannot finish need not run, but each upload is either
    accepted or refused with errors that name what is wrong."""
    for path in FILES:
        answer = scripts_api.post(
            "/api/diagrams",
            params={"new_version": "true"},
            files={"file": (path.name, path.read_bytes(), "application/xml")},
        )
        assert answer.status_code in (200, 201, 422), (path.name, answer.text[:300])
        if answer.status_code == 422:
            errors = answer.json()["errors"]
            assert errors and all(e["message"] for e in errors), (path.name, errors)
