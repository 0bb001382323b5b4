"""SpiffWorkflow specs of our own and the parser/serializer that know them."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import (
    BusinessRuleTaskParser,
    ScriptTaskParser,
    ServiceTaskParser,
)
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.serializer.task_spec import ScriptTaskConverter, ServiceTaskConverter
from SpiffWorkflow.spiff.specs.defaults import BusinessRuleTask, ScriptTask, ServiceTask

SCRIPT_OPERATOR = "script.run"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"


class JobServiceTask(ServiceTask):  # type: ignore[misc]
    """A service task that waits in STARTED until a worker delivers the operator's result.

    SpiffWorkflow would call the operator inside `do_engine_steps`; returning None from
    `_execute` leaves the task STARTED so the engine can hand it to a worker as a job.
    """

    def _execute(self, task: Any) -> None:
        return None

    def apply_result(self, task: Any, result: dict[str, Any]) -> None:
        """Put the operator's result where the diagram reads it."""
        task.data[self.result_variable] = result


class JobScriptTask(ScriptTask):  # type: ignore[misc]
    """A script task run as a job in the sandbox (`script.run`), not in the engine process.

    Like `JobServiceTask` it waits in STARTED; the worker runs the script over a JSON copy of
    the task data and the data it leaves behind becomes the task's data."""

    operation_name = SCRIPT_OPERATOR

    def _execute(self, task: Any) -> None:
        return None

    def apply_result(self, task: Any, result: dict[str, Any]) -> None:
        """The script's variables replace the task data (a `del` in the script deletes)."""
        task.data.clear()
        task.data.update(result["data"])


JOB_SPECS = (JobServiceTask, JobScriptTask)


class DecisionRefParser(BusinessRuleTaskParser):  # type: ignore[misc]
    """A business rule task names its decision as spiff-arena does
    (`spiffworkflow:calledDecisionId`) or as Camunda Modeler does (`camunda:decisionRef`)."""

    @staticmethod
    def get_decision_ref(node: Any) -> str | None:
        found = BusinessRuleTaskParser.get_decision_ref(node)
        return found or node.get(f"{{{CAMUNDA_NS}}}decisionRef")


class WeaverParser(SpiffBpmnParser):  # type: ignore[misc]
    """SpiffWorkflow's parser with service tasks mapped to `JobServiceTask`."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("serviceTask"): (ServiceTaskParser, JobServiceTask),
        full_tag("scriptTask"): (ScriptTaskParser, JobScriptTask),
        full_tag("businessRuleTask"): (DecisionRefParser, BusinessRuleTask),
    }


def make_serializer() -> BpmnWorkflowSerializer:
    """A serializer that round-trips workflows containing our job tasks."""
    config = dict(SPIFF_CONFIG)
    config[JobServiceTask] = ServiceTaskConverter
    config[JobScriptTask] = ScriptTaskConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


@cache
def _spec_serializer() -> BpmnWorkflowSerializer:
    return make_serializer()


def build_spec(spec: dict[str, Any]) -> Any:
    """The process spec object for a stored spec dict (left untouched).

    Spec objects are immutable once built and shared by every workflow of that diagram
    version: runs hold only their task trees, so a restore does not rebuild the specs."""
    # SpiffWorkflow's restore rewrites the dict in place; the stored spec must stay intact
    return _spec_serializer().from_dict(copy.deepcopy(spec))
