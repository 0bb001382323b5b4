"""Pruning finished tasks keeps what joins read: a parallel gateway that merges a loop's way
back with the way in (SpiffWorkflow's gateway_loop_input) decides by climbing its ancestors
to an instance of each input, so the chain above the meeting point keeps the latest one of
each; the stored tree still stops growing with the iterations."""

from __future__ import annotations

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.diagrams.specs import JOB_SPECS, WeaverParser, make_serializer
from engine.runs.spiff import drop_spent_data, prune_spent_tasks

LOOP = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
                  targetNamespace="http://example.com/loop">
  <bpmn:process id="loop" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="set"/>
    <bpmn:scriptTask id="set"><bpmn:script>x = 0</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="set" targetRef="merge"/>
    <bpmn:parallelGateway id="merge"/>
    <bpmn:sequenceFlow id="f3" sourceRef="merge" targetRef="increment"/>
    <bpmn:scriptTask id="increment"><bpmn:script>x += 1</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f4" sourceRef="increment" targetRef="more"/>
    <bpmn:exclusiveGateway id="more" default="f6"/>
    <bpmn:sequenceFlow id="f5" sourceRef="more" targetRef="again">
      <bpmn:conditionExpression>x &lt; 12</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f6" sourceRef="more" targetRef="end"/>
    <bpmn:userTask id="again"/>
    <bpmn:sequenceFlow id="f7" sourceRef="again" targetRef="merge"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_join_merging_a_loop_completes_with_pruning_and_the_tree_stays_bounded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "loop.bpmn"
    path.write_text(LOOP)
    parser = WeaverParser()
    parser.add_bpmn_file(str(path))
    wf = BpmnWorkflow(parser.get_spec("loop"))
    serializer = make_serializer()
    sizes, xs = [], []
    for _ in range(100):
        wf.do_engine_steps()
        prune_spent_tasks(wf)
        drop_spent_data(wf)
        wf = serializer.from_dict(serializer.to_dict(wf))  # as between a run's steps
        if wf.is_completed():
            break
        sizes.append(len(wf.tasks))
        for task in wf.get_tasks(state=TaskState.STARTED):
            assert isinstance(task.task_spec, JOB_SPECS)
            variables = dict(task.data)
            exec(task.task_spec.script, {}, variables)  # noqa: S102 - the test's own scripts
            task.task_spec.apply_result(task, {"data": variables})
            xs.append(variables["x"])
            task.complete()
        for task in wf.get_tasks(state=TaskState.READY, manual=True):
            task.run()
    assert wf.is_completed(), f"stuck: {[t.task_spec.name for t in wf.get_tasks()]}"
    assert xs == list(range(13)), "set, then one increment per way round the loop"
    assert max(sizes[6:]) <= max(sizes[:6]), f"stored tasks grew with the loop: {sizes}"
