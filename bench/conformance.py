"""`python -m bench conformance`: SpiffWorkflow's own test diagrams
(`../shared/conformance/spiff-tests/`), each run in memory by raw SpiffWorkflow and through
WeaverGen's API, with the same naive driver: every ready user or manual task completed with
empty data (through the API: with what its form requires, if it has one), timers left to
fire (a few seconds at most); scripts enabled, as an admin would for diagrams they trust.

Prints one line per diagram (`file: spiff=… weavergen=…`, with WeaverGen's reason when the
two differ), then `conformance parsed=… spiff_completed=… weavergen_completed=…`;
tests/engine/test_conformance.py runs the same per diagram.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from bench.serving import ROOT, served
from engine.runs.spiff import pending_timers

CORPUS = ROOT.parent / "shared" / "conformance" / "spiff-tests"
SPIFF_SECONDS = 5.0  # per diagram, for timers
WEAVERGEN_SECONDS = 20.0
PERSON_TASKS = ("UserTask", "ManualTask", "NoneTask")


def _entry(parser: SpiffBpmnParser) -> str | None:
    """The top-level process: an executable one no other process in the file calls."""
    ids = list(parser.get_process_ids())
    called = {dep for pid in ids for dep in parser.get_process_dependencies() if dep != pid}
    top = [pid for pid in ids if pid not in called]
    return (top or ids or [None])[0]


def run_spiff(path: Path) -> tuple[str, str | None]:
    """('completed' | 'waiting' | 'error' | 'unparsed', process id) for raw SpiffWorkflow."""
    try:
        parser = SpiffBpmnParser()
        parser.add_bpmn_file(str(path))
        pid = _entry(parser)
        if pid is None:
            return "unparsed", None
        wf = BpmnWorkflow(parser.get_spec(pid), parser.get_subprocess_specs(pid))
    except Exception:  # whatever SpiffWorkflow cannot load
        return "unparsed", None
    deadline = time.monotonic() + SPIFF_SECONDS
    try:
        while time.monotonic() < deadline:
            wf.refresh_timers()
            wf.do_engine_steps()
            ready = wf.get_tasks(state=TaskState.READY, manual=True)
            for task in ready:
                task.run()
            if wf.is_completed():
                return "completed", pid
            if not ready and not pending_timers(wf):
                break  # nothing left that the driver or a timer moves: it waits for good
            if not ready:
                time.sleep(0.05)
    except Exception:
        return "error", pid
    return "waiting", pid


def run_weavergen(api: httpx.Client, path: Path, pid: str) -> tuple[str, str]:
    """(final status, reason) of the diagram run through the API with the same driver."""
    upload = api.post(
        "/api/diagrams",
        params={"new_version": "true"},
        files={"file": (path.name, path.read_bytes(), "application/xml")},
    )
    if upload.status_code not in (200, 201):
        return "refused", f"upload {upload.status_code}: {_detail(upload)}"
    started = api.post("/api/runs", json={"text": f"conformance {path.name}", "diagram": pid})
    if started.status_code != 201:
        return "refused", f"start {started.status_code}: {_detail(started)}"
    run_id = started.json()["id"]
    deadline = time.monotonic() + WEAVERGEN_SECONDS
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        got = api.get(f"/api/runs/{run_id}")
        if got.status_code != 200:
            return "error", f"read {got.status_code}: {_detail(got)}"
        run = got.json()
        if run["status"] in ("completed", "failed", "incident"):
            break
        for step in run["steps"]:
            if step["state"] == "ready" and step["kind"] in ("UserTask", "ManualTask", "NoneTask"):
                done = api.post(
                    f"/api/runs/{run_id}/tasks/{step['task_id']}/complete",
                    json={"data": _answer(api, step["task_id"])},
                )
                if done.status_code >= 500:
                    return "error", f"complete {done.status_code}: {_detail(done)}"
        time.sleep(0.2)
    reason = run.get("error") or "; ".join(i["message"] for i in run.get("incidents", []))
    return run.get("status", "unknown"), (reason or "")[:200]


def _answer(api: httpx.Client, task_id: str) -> dict[str, Any]:
    """What the driver answers a person task: empty, or what its form needs (its defaults
    and a value for each required field), as a person filling it in least would."""
    found = api.get(f"/api/tasks/{task_id}")
    form = found.json().get("form") if found.status_code == 200 else None
    return _filled(form["schema"]) if form else {}


def _filled(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties") or {}
    out = {name: p["default"] for name, p in props.items() if "default" in p}
    for name in schema.get("required") or []:
        out.setdefault(name, _value(props.get(name) or {}))
    return out


def _value(prop: dict[str, Any]) -> Any:
    if "const" in prop:
        return prop["const"]
    for choices in ("enum", "oneOf", "anyOf"):
        if prop.get(choices):
            first = prop[choices][0]
            return _value(first) if isinstance(first, dict) else first
    kind = prop.get("type")
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        return prop.get("minimum", 0)
    if kind == "object":
        return _filled(prop)
    if kind == "array":
        return []
    return "x" * int(prop.get("minLength", 0))


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200]
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        return "; ".join(f"{e.get('element_id')}: {e.get('message')}" for e in errors)[:300]
    return str(body.get("detail") if isinstance(body, dict) else body)[:300]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench conformance", description=__doc__)
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder of diagrams")
    args = parser.parse_args(argv)
    files = sorted(p for p in args.corpus.iterdir() if p.name.endswith((".bpmn", ".bpmn20.xml")))
    spiff = {path: run_spiff(path) for path in files}
    parsed = [p for p, (status, _) in spiff.items() if status != "unparsed"]
    completes = [p for p, (status, _) in spiff.items() if status == "completed"]
    ours = 0
    with (
        tempfile.TemporaryDirectory(prefix="weavergen-conformance-") as tmp,
        served(
            Path(tmp), latency_ms=0, workers=1, concurrency=8, max_in_flight=32, start=False
        ) as s,
    ):
        # the corpus has script tasks: an admin enables scripts for diagrams they trust
        s.start_server(extra_env={"WEAVERGEN_ALLOW_SCRIPTS": "true"})
        api = httpx.Client(
            base_url=s.url, headers={"Authorization": f"Bearer {s.token}"}, timeout=30
        )
        for path in completes:
            pid = spiff[path][1]
            assert pid is not None
            status, reason = run_weavergen(api, path, pid)
            ours += status == "completed"
            note = "" if status == "completed" else f"  ({reason})"
            print(f"{path.name}: spiff=completed weavergen={status}{note}", flush=True)
        api.close()
    for path in files:
        if path not in completes:
            print(f"{path.name}: spiff={spiff[path][0]} (not required)")
    print(
        f"conformance parsed={len(parsed)} spiff_completed={len(completes)} "
        f"weavergen_completed={ours}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
