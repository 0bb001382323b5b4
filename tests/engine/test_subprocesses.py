"""Embedded and event subprocesses, and files of several processes, from SpiffWorkflow's own
test diagrams run through the API: their specs are stored with the diagram version, the
runs complete, no answer is a 500 (the event-subprocess diagram answered 500 and stranded
its run before; the files of several processes were refused)."""

from __future__ import annotations

import httpx
import pytest

from bench.conformance import CORPUS, run_spiff, run_weavergen


@pytest.mark.parametrize(
    "name",
    [
        "event-subprocess.bpmn",
        "uncaught_escalation.bpmn",
        "reset_with_boundary_event.bpmn",
        # several processes in one file: the one nobody calls starts, the others are its
        # call activities' targets
        "Approvals.bpmn",
        "Message-Interrupts-SP.bpmn20.xml",
    ],
)
def test_subprocess_diagram_completes_as_in_spiffworkflow(api: httpx.Client, name: str) -> None:
    path = CORPUS / name
    assert path.exists(), f"{path} missing: the conformance corpus is ../shared/conformance"
    raw, process_id = run_spiff(path)
    assert raw == "completed" and process_id is not None
    status, reason = run_weavergen(api, path, process_id)
    assert status == "completed", reason
