"""SpiffWorkflow specs of our own and the parser/serializer that know them."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import ServiceTaskParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.serializer.task_spec import ServiceTaskConverter
from SpiffWorkflow.spiff.specs.defaults import ServiceTask


class JobServiceTask(ServiceTask):  # type: ignore[misc]
    """A service task that waits in STARTED until a worker delivers the operator's result.

    SpiffWorkflow would call the operator inside `do_engine_steps`; returning None from
    `_execute` leaves the task STARTED so the engine can hand it to a worker as a job.
    """

    def _execute(self, task: Any) -> None:
        return None


class WeaverParser(SpiffBpmnParser):  # type: ignore[misc]
    """SpiffWorkflow's parser with service tasks mapped to `JobServiceTask`."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("serviceTask"): (ServiceTaskParser, JobServiceTask),
    }


def make_serializer() -> BpmnWorkflowSerializer:
    """A serializer that round-trips workflows containing `JobServiceTask`."""
    config = dict(SPIFF_CONFIG)
    config[JobServiceTask] = ServiceTaskConverter
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
