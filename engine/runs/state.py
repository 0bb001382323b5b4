"""Stored run state: SpiffWorkflow's serialized workflow, minus the specs, with a format version.

Specs live once per diagram version (`diagram_versions.spec`); a run stores only its
task tree and data and the ids of the diagram versions it pinned.

Extension point: `STATE_MIGRATIONS` maps a format version to a function that upgrades a
stored state dict to the next version. Bump `STATE_FORMAT` when the stored shape changes
and register the upgrade here; old runs are upgraded when they are next loaded.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow

from engine.diagrams.expressions import script_engine
from engine.diagrams.specs import make_serializer

STATE_FORMAT = 1
STATE_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class WorkflowCodec:
    """Turns workflows into stored state and back, given the pinned specs."""

    def __init__(self) -> None:
        self._serializer = make_serializer()
        self._script_engine = script_engine()

    def spec_from_dict(self, spec: dict[str, Any]) -> Any:
        """Restore a process spec serialized by the diagram loader."""
        # SpiffWorkflow's restore rewrites the dict in place; the cached spec must stay intact
        return self._serializer.from_dict(copy.deepcopy(spec))

    def new_workflow(
        self, entry: str, specs: dict[str, dict[str, Any]], data: dict[str, Any]
    ) -> BpmnWorkflow:
        """A fresh workflow for process `entry` with `data` as its initial task data."""
        spec = self.spec_from_dict(specs[entry])
        subprocess_specs = {pid: self.spec_from_dict(s) for pid, s in specs.items() if pid != entry}
        wf = BpmnWorkflow(spec, subprocess_specs, script_engine=self._script_engine)
        wf.task_tree.data.update(data)  # the root task's data flows to every task
        return wf

    def dump(self, wf: BpmnWorkflow) -> dict[str, Any]:
        """Serialize a workflow without its specs."""
        state = self._serializer.to_dict(wf)
        state.pop("spec", None)
        state.pop("subprocess_specs", None)
        return state

    def restore(
        self, state: dict[str, Any], fmt: int, entry: str, specs: dict[str, dict[str, Any]]
    ) -> BpmnWorkflow:
        """Rebuild a workflow from stored state and its pinned specs."""
        while fmt < STATE_FORMAT:
            state = STATE_MIGRATIONS[fmt](state)
            fmt += 1
        full = dict(state)
        full["spec"] = copy.deepcopy(specs[entry])
        full["subprocess_specs"] = {
            pid: copy.deepcopy(s) for pid, s in specs.items() if pid != entry
        }
        wf = self._serializer.from_dict(full)
        wf.script_engine = self._script_engine  # not serialized; set again after restore
        return wf
