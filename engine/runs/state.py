"""Stored run state: SpiffWorkflow's serialized workflow, minus the specs, with a format version.

Specs live once per diagram version (`diagram_versions.spec`); a run stores only its
task tree and data and the ids of the diagram versions it pinned.

Extension point: `STATE_MIGRATIONS` maps a format version to a function that upgrades a
stored state dict to the next version. Bump `STATE_FORMAT` when the stored shape changes
and register the upgrade here; old runs are upgraded when they are next loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow

from engine.diagrams.expressions import script_engine
from engine.diagrams.specs import make_serializer
from engine.errors import Conflict

STATE_FORMAT = 1
ACCEPTED = "accepted"  # the state of a run accepted but not begun: {"accepted": {"options": …}}
STATE_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class WorkflowCodec:
    """Turns workflows into stored state and back, given the pinned specs."""

    def __init__(self) -> None:
        self._serializer = make_serializer()
        self._script_engine = script_engine()
        # the registry's converter for whole workflows (a bound method inside a partial)
        restore_workflow = self._serializer.registry.convert_from_dict["BpmnWorkflow"]
        self._workflow_converter = restore_workflow.args[0].__self__

    def new_workflow(self, entry: str, specs: dict[str, Any], data: dict[str, Any]) -> BpmnWorkflow:
        """A fresh workflow for process `entry` (built `specs` by process id) with `data` as
        its initial task data."""
        subprocess_specs = {pid: s for pid, s in specs.items() if pid != entry}
        wf = BpmnWorkflow(specs[entry], subprocess_specs, script_engine=self._script_engine)
        wf.task_tree.data.update(data)  # the root task's data flows to every task
        return wf

    def dump(self, wf: BpmnWorkflow) -> dict[str, Any]:
        """Serialize a workflow without its specs."""
        state = self._serializer.to_dict(wf)
        state.pop("spec", None)
        state.pop("subprocess_specs", None)
        return state

    def restore(
        self, state: dict[str, Any], fmt: int, entry: str, specs: dict[str, Any]
    ) -> BpmnWorkflow:
        """Rebuild a workflow from stored state and its pinned (built, shared) specs.

        What SpiffWorkflow's `BpmnWorkflowConverter.from_dict` does, but with the spec
        objects given rather than rebuilt from dicts: only the task tree is restored."""
        if ACCEPTED in state:
            raise Conflict("this run is still starting; try again in a moment")
        while fmt < STATE_FORMAT:
            state = STATE_MIGRATIONS[fmt](state)
            fmt += 1
        dct = dict(state)  # the converter pops keys; the caller's dict stays whole
        subprocess_specs = {pid: s for pid, s in specs.items() if pid != entry}
        wf = BpmnWorkflow(specs[entry], subprocess_specs, deserializing=True)
        convert = self._workflow_converter
        wf.tasks = convert.mapping_from_dict(dct["tasks"], UUID, workflow=wf)
        wf.task_tree = wf.tasks.get(UUID(dct["root"]))
        convert.set_default_attributes(wf, dct)
        convert.subprocesses_from_dict(dict(dct["subprocesses"]), wf)
        wf.bpmn_events = convert.registry.restore(dct.get("bpmn_events", []))
        wf.script_engine = self._script_engine  # not serialized; set again after restore
        return wf
