"""The learning store: what finished steps and runs taught, and the queries decisions ask.

Two roles, so each production backend does what it is good at:
- `OutcomeStore`: time series of step and run outcomes (InfluxDB in production), answering
  success counts per (task type, language, pattern), whether another improve iteration
  helped for a failure signature, per-element statistics of a diagram across runs
  (`element_stats`: the heatmap on the diagram page), and what the learned choices (the
  model group routed to a step, the action after a failed step) led to (`policy_stats`).
- `KnowledgeStore`: relationships (Neo4j in production): runs, requests, patterns, failure
  signatures and the fixes that resolved them, corrections from human review; answering
  "what fixed these failures before".
PostgreSQL implements both (the embedded default). Every implementation passes the same
contract tests (tests/adapters/test_learning_contract.py, test_memory_contract.py) against a
real server. The contract stays one module (over 400 lines): its records and both protocols
are read together when a store is written; the memory records live in memory.py.

The two protocols are the abstract bases of the two kinds of store: an implementation names
its kind as a base class (`class InfluxOutcomeStore(BufferedStore[str], OutcomeStore)`), so
the type checker tells it what it still lacks, and sits beside the others in this package
(postgres.py, influx.py, neo4j.py). Code that only uses a store keeps typing it by the
protocol, so a test double need not inherit anything.

Writes must never block or fail a run: implementations buffer, retry, and count what they
could not store (`health()`), and raise only for programming errors. A store that writes to a
server of its own does so through the shared bounded buffer and sender in buffered.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, Protocol

from pydantic import BaseModel, Field, computed_field, field_validator

from adapters.learning.memory import (
    MEMORY_KINDS,
    SCOPES,
    FixPath,
    Memory,
    MemoryCandidate,
    MemoryQuery,
    rrf_fuse,
)

__all__ = [
    "MAX_BUCKET_S",
    "MAX_CHOICE_STATS",
    "MEMORY_KINDS",
    "SCOPES",
    "MAX_PREDICTION_PAIRS",
    "VISIT_OUTCOMES",
    "CandidateOutcome",
    "ChoiceStats",
    "Correction",
    "DiagramStats",
    "ElementStats",
    "ElementVisit",
    "FailureFix",
    "FixPath",
    "FlowStats",
    "FlowTaken",
    "IterationOutcome",
    "KnowledgeStore",
    "LatencyStat",
    "LearningUnavailable",
    "Memory",
    "MemoryCandidate",
    "MemoryQuery",
    "OutcomeStore",
    "PatternStats",
    "PolicyOutcome",
    "RunOutcome",
    "SeriesPoint",
    "StepOutcome",
    "StoreHealth",
    "as_utc",
    "check_bucket_s",
    "rrf_fuse",
]

MAX_BUCKET_S = 7 * 24 * 3600  # the largest bucket `run_series` accepts (one week)
MAX_PREDICTION_PAIRS = 10_000  # the most (most recent) pairs `prediction_pairs` returns
MAX_CHOICE_STATS = 10_000  # the most rows `policy_stats` returns (see there which)


def _now() -> datetime:
    return datetime.now(UTC)


class StepOutcome(BaseModel):
    """One finished step."""

    run_id: str
    task_id: str
    pattern: str
    step: str  # BPMN element id
    operator: str
    model_group: str = ""
    deployment: str = ""
    language: str
    task_type: str = "unknown"
    success: bool
    duration_ms: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    score: float | None = None
    attempt: int = 1
    iteration: int = 1
    at: datetime = Field(default_factory=_now)


class RunOutcome(BaseModel):
    """One finished run."""

    run_id: str
    pattern: str
    language: str
    task_type: str = "unknown"
    success: bool
    duration_ms: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    iterations: int = 0
    score: float | None = None
    at: datetime = Field(default_factory=_now)


class IterationOutcome(BaseModel):
    """An improve iteration on code with a failure signature: did the next validation pass?"""

    run_id: str
    signature: str
    language: str
    helped: bool
    at: datetime = Field(default_factory=_now)


class CandidateOutcome(BaseModel):
    """One candidate answer of a model group in a multi-model consensus step (or the one
    answer of a single generation): whether its tests passed, and what the quality
    prediction said beforehand.

    `predicted` is the predicted pass probability (meant to be in [0, 1], not enforced;
    None when no prediction was made); `agreement` is how far the consensus agreed with
    this candidate (1.0 for a single generation). Both must be finite: InfluxDB cannot
    store NaN or infinity, so such a value is a ValidationError here, not lost data later.
    """

    run_id: str
    task_id: str
    model_group: str
    task_type: str = "unknown"
    language: str
    predicted: float | None = Field(default=None, allow_inf_nan=False)
    passed: bool
    agreement: float = Field(default=1.0, allow_inf_nan=False)
    features: dict[str, float] = Field(default_factory=dict)  # the prediction's inputs, by name
    at: datetime = Field(default_factory=_now)


class PolicyOutcome(BaseModel):
    """What one learned choice led to: the model group chosen for a step (policy "route"),
    or the action chosen after a step failed (policy "failure").

    `success`: route, the candidate's tests passed; failure, the step recovered.
    `duration_ms`: route, the model call's time; failure, from the failure to the step's end.
    `tokens`: tokens in and out of the model call (route). `explored`: the choice was an
    exploration step, not the best estimate. `duration_ms` must be finite (InfluxDB cannot
    store NaN or infinity: a ValidationError here, not lost data later).
    """

    policy: Literal["route", "failure"]
    run_id: str
    task_id: str
    element: str  # BPMN element id of the step
    task_type: str = "unknown"
    language: str
    failure_class: str = ""  # "failure" policy only, e.g. "timeout", "rate_limit"
    choice: str  # the model group (route) or the action (failure: retry, switch, ...)
    success: bool
    duration_ms: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    tokens: int = Field(default=0, ge=0)
    explored: bool = False
    at: datetime = Field(default_factory=_now)


class ChoiceStats(BaseModel):
    """Outcomes of one choice in one context (`OutcomeStore.policy_stats`)."""

    element: str
    task_type: str
    language: str
    failure_class: str
    choice: str
    successes: int
    failures: int
    mean_ms: float  # mean duration_ms (0.0 when none)
    mean_tokens: float  # mean tokens
    explored: int  # how many were exploration steps


VISIT_OUTCOMES = ("completed", "failed", "cancelled")


class ElementVisit(BaseModel):
    """One visit of a BPMN element (task, event, gateway, call activity) in a finished run:
    one step of the run, recorded when the run ends. A parallel multi-instance task counts
    each of its instances, not itself.

    `outcome`: "completed"; "failed" (the step failed, or the run failed while it was open);
    "cancelled" (the step was withdrawn: an interrupted task, an event that did not fire, a
    step left open by a run that completed). `incidents` counts the incidents opened on the
    step (it may have completed after a retry). `duration_ms` runs from the step's start to
    its end (to the run's end when it stayed open); `model_ms` is the time its operator
    spent on a model call (None when the step called no model)."""

    run_id: str
    task_id: str
    diagram_id: str  # the diagram (its BPMN process id) that holds the element
    diagram_version: int  # the version number the run pinned
    element_id: str
    kind: str  # the BPMN type as the steps table names it, e.g. "ServiceTask"
    outcome: str  # one of VISIT_OUTCOMES
    incidents: int = 0
    duration_ms: float = Field(default=0.0, allow_inf_nan=False)
    model_ms: float | None = Field(default=None, allow_inf_nan=False)
    tokens_in: int = 0
    tokens_out: int = 0
    at: datetime = Field(default_factory=_now)  # when the visit ended

    @field_validator("outcome")
    @classmethod
    def _known_outcome(cls, value: str) -> str:
        if value not in VISIT_OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(VISIT_OUTCOMES)}, got {value!r}")
        return value


class FlowTaken(BaseModel):
    """A sequence flow a diverging gateway took in a finished run: one record per flow (a
    parallel or inclusive gateway takes several at once, a gateway in a loop several times)."""

    run_id: str
    diagram_id: str
    diagram_version: int
    gateway: str  # the gateway's element id
    flow: str  # the sequence flow's id
    at: datetime = Field(default_factory=_now)


class ElementStats(BaseModel):
    """The visits of one element of a diagram (`OutcomeStore.element_stats`); the defaults
    are an element without visits.

    `runs` counts distinct runs; `incidents` the visits with at least one incident;
    `failures` the visits that failed or had an incident. `mean_ms` and `p95_ms` are over
    the visits that were not cancelled (None when every visit was), `p95_ms` the nearest-rank
    percentile `LatencyStat` defines. Tokens and model time are totals over all visits."""

    element_id: str
    visits: int = 0
    runs: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    incidents: int = 0
    failures: int = 0
    mean_ms: float | None = None
    p95_ms: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    model_ms: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def failure_rate(self) -> float:
        """Visits that failed or had an incident, per visit (0.0 without visits)."""
        return self.failures / self.visits if self.visits else 0.0


class FlowStats(BaseModel):
    """How often a gateway took one of its outgoing sequence flows."""

    gateway: str
    flow: str
    taken: int


class DiagramStats(BaseModel):
    """Per-element statistics of a diagram: elements sorted by id, flows by (gateway, flow);
    elements and flows without a recorded visit are left out."""

    elements: list[ElementStats] = Field(default_factory=list)
    flows: list[FlowStats] = Field(default_factory=list)


class PatternStats(BaseModel):
    """Successes and failures of one pattern for a (task type, language)."""

    pattern: str
    successes: int
    failures: int


class FailureFix(BaseModel):
    """A failure signature seen in a run, and the fix that resolved it (if any)."""

    run_id: str
    request: str = ""
    pattern: str = ""
    language: str
    signature: str
    fix: str = ""  # a short summary of what changed
    model_group: str = ""  # the model group of the improve step that tried the fix
    at: datetime = Field(default_factory=_now)


class Correction(BaseModel):
    """A person's answer to a user task (approval, rejection, comment)."""

    run_id: str
    step: str
    approved: bool | None = None
    comment: str = ""
    at: datetime = Field(default_factory=_now)


class SeriesPoint(BaseModel):
    """Recorded runs of one pattern in one time bucket (`OutcomeStore.run_series`)."""

    pattern: str
    bucket: datetime  # the bucket's start, UTC, aligned to the Unix epoch
    runs: int
    successes: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rate(self) -> float:
        """Successes per run (0.0 for an empty bucket, which queries never return)."""
        return self.successes / self.runs if self.runs else 0.0


class LatencyStat(BaseModel):
    """Step durations of one model group (`OutcomeStore.model_latency`).

    `p95_ms` is a nearest-rank percentile, the definition of InfluxDB's
    `PERCENTILE(duration_ms, 95)`: with the group's `calls` durations sorted ascending, the
    value at 1-based rank max(1, floor(0.95 * calls + 0.5)). Every backend uses it, so they
    agree exactly (no interpolation).
    """

    model_group: str
    calls: int
    failures: int
    mean_ms: float
    p95_ms: float


def as_utc(at: datetime) -> datetime:
    """`at` as an aware UTC datetime (a naive one is taken to be UTC already)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def check_bucket_s(bucket_s: int) -> int:
    """A valid `run_series` bucket size in whole seconds (1 s to 7 days), else ValueError."""
    if isinstance(bucket_s, bool) or not isinstance(bucket_s, int):
        raise ValueError(f"bucket_s must be an int number of seconds, got {bucket_s!r}")
    if not 1 <= bucket_s <= MAX_BUCKET_S:
        raise ValueError(f"bucket_s must be between 1 and {MAX_BUCKET_S} seconds, got {bucket_s}")
    return bucket_s


class LearningUnavailable(Exception):
    """A query could not be answered (server down); decisions fall back to their prior."""


class StoreHealth(BaseModel):
    """What a store holds back or lost; `dropped` > 0 means data was lost and says so."""

    backend: str
    healthy: bool
    buffered: int = 0
    dropped: int = 0
    last_error: str | None = None


class OutcomeStore(Protocol):
    """Time series of outcomes."""

    async def record_step(self, outcome: StepOutcome) -> None: ...

    async def record_steps(self, outcomes: list[StepOutcome]) -> None:
        """Several finished steps (a store that can write them at once overrides this)."""
        for outcome in outcomes:
            await self.record_step(outcome)

    async def record_run(self, outcome: RunOutcome) -> None: ...
    async def record_iteration(self, outcome: IterationOutcome) -> None: ...
    async def record_candidate(self, outcome: CandidateOutcome) -> None: ...
    async def record_policy(self, outcome: PolicyOutcome) -> None: ...
    async def record_visits(self, visits: list[ElementVisit], flows: list[FlowTaken]) -> None:
        """A finished run's element visits and the gateway flows it took."""
        ...

    async def element_stats(
        self,
        diagram_id: str,
        since: datetime,
        until: datetime | None = None,
        version: int | None = None,
    ) -> DiagramStats:
        """Visits of the elements of `diagram_id` (of that version number only, when
        `version` is given) and the flows its gateways took, recorded at or after `since` and
        before `until` (no upper bound when None); see `ElementStats`."""
        ...

    async def pattern_stats(self, task_type: str, language: str) -> list[PatternStats]: ...
    async def iteration_stats(self, signature: str, language: str) -> tuple[int, int]:
        """(helped, total) improve iterations for this failure signature."""
        ...

    async def run_series(self, since: datetime, bucket_s: int) -> list[SeriesPoint]:
        """Runs recorded at or after `since`, counted per pattern and per `bucket_s`-second
        bucket (aligned to the Unix epoch, UTC); buckets without runs are left out; sorted by
        (bucket, pattern). ValueError unless 1 <= bucket_s <= 7 days."""
        ...

    async def model_latency(self, since: datetime) -> list[LatencyStat]:
        """Step outcomes at or after `since` with a non-empty model group, per model group;
        sorted by model group. See `LatencyStat` for the percentile definition."""
        ...

    async def candidate_stats(
        self, model_group: str, task_type: str, language: str
    ) -> tuple[int, int]:
        """(passed, total) recorded candidates of exactly this model group, task type and
        language."""
        ...

    async def prediction_pairs(self, since: datetime) -> list[tuple[float, bool]]:
        """(predicted, passed) of the candidates recorded at or after `since` that have a
        prediction, oldest first; at most `MAX_PREDICTION_PAIRS`, the most recent ones."""
        ...

    async def prediction_samples(self, since: datetime) -> list[tuple[dict[str, float], bool]]:
        """(features, passed) of the candidates recorded at or after `since` with non-empty
        features, oldest first; at most `MAX_PREDICTION_PAIRS`, the most recent ones."""
        ...

    async def policy_stats(
        self,
        policy: str,
        *,
        element: str | None = None,
        task_type: str | None = None,
        language: str | None = None,
        failure_class: str | None = None,
        since: datetime | None = None,
    ) -> list[ChoiceStats]:
        """Outcomes of `policy` ("route" or "failure") recorded at or after `since` (any time
        when None), per (element, task type, language, failure class, choice), sorted by that
        tuple; a filter that is None matches any value, a string exactly that value. At most
        `MAX_CHOICE_STATS` rows: when more groups match, those whose latest outcome is the
        most recent (ties by the tuple)."""
        ...

    async def flush(self) -> None: ...
    async def close(self) -> None: ...
    def health(self) -> StoreHealth: ...


class KnowledgeStore(Protocol):
    """Relationships: runs, requests, patterns, task types, languages, failures, fixes,
    corrections."""

    async def record_run(self, outcome: RunOutcome, request: str) -> None: ...
    async def record_failure_fix(self, item: FailureFix) -> None: ...
    async def record_correction(self, item: Correction) -> None: ...
    async def fixes_for(
        self, signatures: list[str], language: str, limit: int = 5
    ) -> list[FailureFix]: ...
    async def corrections(self, run_id: str) -> list[Correction]: ...

    async def record_memories(self, items: list[Memory]) -> None:
        """Keep these memories (one with the id of a kept one replaces it, keeping its recall
        counts)."""
        ...

    async def memory_candidates(self, query: MemoryQuery) -> list[MemoryCandidate]:
        """Stage 1 of recall (adapters/learning/memory.py): up to `query.limit` memories that
        pass the hard filters, the best `query.limit` of the full-text search and (when the
        query has an embedding) the best `query.limit` of the vector search fused by
        reciprocal rank, sorted by `rrf` descending (ties by id). LearningUnavailable when the
        server does not answer."""
        ...

    async def record_recall(self, memory_ids: list[str], helped: bool) -> None:
        """These memories were recalled by a run that then passed (`helped`) or not."""
        ...

    async def fix_paths(self, signatures: list[str], language: str) -> list[FixPath]:
        """Failure → fix → outcome for these signatures in this language, per (signature,
        model group), sorted by (signature, model group)."""
        ...

    async def count_memories(self) -> int: ...
    async def flush(self) -> None: ...
    async def close(self) -> None: ...
    def health(self) -> StoreHealth: ...
