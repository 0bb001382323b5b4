"""Tables for run state: diagrams, runs, steps, step events, artifacts, blobs, incidents, tokens."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSON, JSONB, UUID

metadata = MetaData()


def _created() -> Column:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


def _step_output() -> tuple[Column, Column, Column]:
    """The key of something a step wrote: its own id, its run and (when a step) the task."""
    return (
        Column("id", UUID(as_uuid=True), primary_key=True),
        _run_ref(),
        Column("task_id", UUID(as_uuid=True)),
    )


def _run_ref() -> Column:
    """The run a row belongs to."""
    return Column("run_id", UUID(as_uuid=True), ForeignKey("runs.id"), nullable=False)


diagrams = Table(
    "diagrams",
    metadata,
    Column("id", Text, primary_key=True),  # the BPMN process id, e.g. "quick"
    Column("name", Text, nullable=False),
    _created(),
)

diagram_versions = Table(
    "diagram_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("diagram_id", Text, ForeignKey("diagrams.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("filename", Text, nullable=False),
    Column("xml", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    # the parsed process spec, serialized once here and referenced from runs; json, not jsonb:
    # SpiffWorkflow's restore depends on the key order jsonb would change
    Column("spec", JSON, nullable=False),
    # process ids this diagram calls through call activities
    Column("calls", JSONB, nullable=False, server_default="[]"),
    # specs of its embedded and event subprocesses, by element id (json, as `spec`)
    Column("subprocesses", JSON, nullable=False, server_default="{}"),
    Column("source", Text, nullable=False),  # "bpmn-dir" or "upload"
    Column("created_by", Text),
    _created(),
    # a retired version is never pinned by a new run (see engine/diagrams/versions.py)
    Column("retired_at", DateTime(timezone=True)),
    Column("retired_by", Text),
    # user-task forms by element id: {"schema": JSON Schema, "ui": UI schema} (migration 0011)
    Column("forms", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    # decision id -> decision_versions.id its business rule tasks were built with
    Column("decisions", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    UniqueConstraint("diagram_id", "version"),
)

# DMN decision tables (one decision per file), versioned like diagrams
decision_versions = Table(
    "decision_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("decision_id", Text, nullable=False),  # the DMN decision id
    Column("name", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("filename", Text, nullable=False),
    Column("xml", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("created_by", Text),
    _created(),
    UniqueConstraint("decision_id", "version"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("diagram_version_id", Integer, ForeignKey("diagram_versions.id"), nullable=False),
    Column("entry", Text, nullable=False),  # process id the run started with
    # process id -> diagram_versions.id for the entry diagram and every diagram it calls
    Column("spec_versions", JSONB, nullable=False),
    Column("pattern", Text),
    # what the request is (function, bug_fix, …): the rules' answer at start, the classifier's
    # once `intent.classify` has run; steps and learning read it instead of classifying again
    Column("task_type", Text),
    Column("request", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    # SpiffWorkflow state stores task data as deltas to the parent task, restored in key
    # order: json keeps the order, jsonb would sort the keys and lose data
    Column("state", JSON, nullable=False),
    Column("state_format", Integer, nullable=False),
    Column("lock_version", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    # what run.finish declared: "completed" or "failed"
    Column("outcome", Text),
    Column("tokens_in", Integer, nullable=False, server_default="0"),
    Column("tokens_out", Integer, nullable=False, server_default="0"),
    Column("created_by", Text),
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    Index("runs_status_idx", "status"),
    Index("runs_created_idx", "created_at", "id"),  # keyset paging, newest first
)

steps = Table(
    "steps",
    metadata,
    Column("task_id", UUID(as_uuid=True), primary_key=True),
    _run_ref(),
    Column("element_id", Text, nullable=False),
    Column("name", Text),
    Column("process_id", Text, nullable=False),
    Column("kind", Text, nullable=False),  # BPMN task type, e.g. "ServiceTask"
    Column("operator", Text),
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # a waiting service task's evaluated parameters (`engine.runs.prepared.encode_params`)
    Column("params", JSONB(none_as_null=True)),
    Column("result", JSONB),
    Column("error", Text),
    Column("tokens_in", Integer, nullable=False, server_default="0"),
    Column("tokens_out", Integer, nullable=False, server_default="0"),
    Column("duration_ms", Float),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    Index("steps_run_idx", "run_id", "started_at"),
    # the task inbox: person tasks waiting (migration 0011)
    Index(
        "steps_people_waiting_idx",
        "started_at",
        "task_id",
        postgresql_where=text("state = 'ready' AND kind IN ('UserTask', 'ManualTask')"),
    ),
)

step_events = Table(
    "step_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    _run_ref(),
    Column("task_id", UUID(as_uuid=True)),
    Column("element_id", Text),
    Column("event", Text, nullable=False),
    Column("detail", JSONB, nullable=False, server_default="{}"),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("step_events_run_idx", "run_id", "id"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    _run_ref(),
    Column("task_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("element_id", Text, nullable=False),
    Column("operator", Text, nullable=False),
    Column("choice", Text, nullable=False),
    Column("confidence", Float),
    Column("evidence", JSONB, nullable=False),
    _created(),
    Index("decisions_run_idx", "run_id"),
)

blobs = Table(
    "blobs",
    metadata,
    *_step_output(),
    Column("kind", Text, nullable=False),  # "prompt", "answer", "report"
    Column("content", Text, nullable=False),
    _created(),
    Index("blobs_run_idx", "run_id"),
)

artifacts = Table(
    "artifacts",
    metadata,
    *_step_output(),
    Column("element_id", Text),
    Column("path", Text, nullable=False),
    Column("kind", Text, nullable=False),  # "code", "test", "doc", "report"
    Column("content", Text, nullable=False),
    # set when the step result that produced it is applied (a dropped duplicate leaves it false)
    Column("applied", Boolean, nullable=False, server_default="false"),
    # set by run.finish on the run's final artifacts
    Column("final", Boolean, nullable=False, server_default="false"),
    _created(),
    Index("artifacts_run_idx", "run_id"),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    _run_ref(),
    Column("task_id", UUID(as_uuid=True), nullable=False),
    Column("element_id", Text, nullable=False),
    Column("operator", Text),
    Column("message", Text, nullable=False),
    Column("status", Text, nullable=False),  # open | retrying | resolved
    Column("attempts", Integer, nullable=False),
    _created(),
    Column("resolved_at", DateTime(timezone=True)),
    Index("incidents_status_idx", "status"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),
    _created(),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    # sha256 of the cookie value: a leaked table row cannot be replayed as a cookie
    Column("id", Text, primary_key=True),
    Column("token_id", UUID(as_uuid=True), ForeignKey("api_tokens.id"), nullable=False),
    Column("csrf", Text, nullable=False),
    _created(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# learned policies (engine/policies): each choice of the router and the failure policy, with
# its evidence; `success` is filled in when the step it was made for ends (failure policy)
policy_decisions = Table(
    "policy_decisions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    _run_ref(),
    Column("task_id", UUID(as_uuid=True), nullable=False),
    Column("element_id", Text, nullable=False),
    Column("policy", Text, nullable=False),  # route | failure
    Column("context", JSONB, nullable=False),
    Column("choice", Text, nullable=False),
    Column("explored", Boolean, nullable=False, server_default=text("false")),
    Column("evidence", JSONB, nullable=False),
    _created(),
    Column("success", Boolean),
    Column("settled_at", DateTime(timezone=True)),
    Index("policy_decisions_run_idx", "run_id", "id"),
    Index("policy_decisions_task_idx", "task_id"),
)

# a pinned policy decides from a DMN decision table version instead of learning
policy_pins = Table(
    "policy_pins",
    metadata,
    Column("policy", Text, primary_key=True),  # pattern | route | failure
    Column("decision_version", Integer, ForeignKey("decision_versions.id"), nullable=False),
    Column("pinned_by", Text),
    _created(),
)
