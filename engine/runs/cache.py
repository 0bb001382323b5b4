"""Workflows kept in memory between a run's steps, so that the next step of a run this process
changed last skips reading, decoding and restoring its stored state.

An entry is valid for exactly one `lock_version` of its run: every change to a run in any
process increments it, so a workflow changed elsewhere is never used. An entry is taken out
while a change uses it and put back only after that change committed, so a failed or rolled
back change never leaves a workflow the database does not have.
"""

from __future__ import annotations

from collections import OrderedDict
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow


class WorkflowCache:
    """The most recently changed workflows of this process, at most `size` of them."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[UUID, tuple[int, BpmnWorkflow]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def take(self, run_id: UUID, lock_version: int) -> BpmnWorkflow | None:
        """The run's workflow at this version, removed from the cache; None if absent."""
        entry = self._entries.pop(run_id, None)
        if entry is not None and entry[0] == lock_version:
            self.hits += 1
            return entry[1]
        self.misses += 1
        return None

    def keep(self, run_id: UUID, lock_version: int, wf: BpmnWorkflow) -> None:
        """Remember the run's workflow as committed at `lock_version`."""
        if self.size <= 0:
            return
        self._entries[run_id] = (lock_version, wf)
        self._entries.move_to_end(run_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
