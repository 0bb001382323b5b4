"""The operator contract: what an operator is (`Operator`), what it gets (`StepContext`,
`Services`), and the registry of the named async functions behind service tasks.

Extension point: `OperatorRegistry.register`. An operator is an async function
`(inputs: SomeInput, ctx: StepContext) -> dict` registered under a dotted name
(`llm.generate`); its pydantic input model validates the parameters the diagram passes.
Raise `RetryableOperatorError` for failures another attempt may fix and
`OperatorError` for the rest. A diagram may only name registered operators.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from engine.errors import OperatorError
from engine.runs.prepared import StepInfo

if TYPE_CHECKING:  # services are built by the composition root; only their types matter here
    from adapters.models import ModelRouter
    from engine.learning import Learning
    from engine.policies.service import Policies
    from engine.prompts import PromptLibrary
    from validation.mesh import ValidationMesh


class StepStore(Protocol):
    """What an operator may persist for its run: large outputs and artifacts."""

    async def put_blob(self, kind: str, content: str) -> str: ...
    async def get_blob(self, blob_id: str) -> str: ...
    async def put_artifact(self, path: str, content: str, kind: str) -> str: ...
    async def get_artifact(self, artifact_id: str) -> dict[str, Any]: ...
    async def earlier_results(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class OperatorSettings:
    """Settings operators read (from `Settings`, fixed per process)."""

    min_evidence: int = 5  # outcomes a decision needs before it trusts learned data
    exploration: bool = True  # decisions sample (Thompson) rather than take the best mean
    script_cpu_seconds: int = 10  # a script task's limits in the sandbox
    script_memory_mb: int = 256


@dataclass(frozen=True)
class Services:
    """What operators may use, built once per process by the composition root."""

    learning: Learning
    models: ModelRouter
    prompts: PromptLibrary
    validation: ValidationMesh
    settings: OperatorSettings = field(default_factory=OperatorSettings)
    policies: Policies | None = None  # learned routing and failure policy (engine/policies)


@dataclass
class StepContext(StepInfo):
    """Everything an operator knows about the step it runs for: the step (`StepInfo`), this
    attempt, where to keep outputs, the services, and the usage it reports back."""

    attempt: int  # 1-based
    store: StepStore
    services: Services
    usage: dict[str, Any] = field(default_factory=dict)  # tokens, model group, deployment
    route: dict[str, Any] | None = None  # the router's choice for this attempt, if it routed


In = TypeVar("In", bound=BaseModel)
OperatorFn = Callable[[Any, StepContext], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Operator:
    """A registered operator: name, input model, function, one-line description."""

    name: str
    input_model: type[BaseModel]
    fn: OperatorFn
    description: str
    decision: bool = False  # its result is a decision {choice, evidence, confidence}
    finishes: bool = False  # its result declares the run's outcome and final files
    classifies: bool = False  # its result's `task_type` becomes the run's task type

    def parse_inputs(self, params: Mapping[str, Any]) -> BaseModel:
        """Validate diagram parameters against the input model."""
        try:
            return self.input_model.model_validate(dict(params))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
            )
            raise OperatorError(
                f"operator {self.name}: bad parameters: {problems}", code="bad_parameters"
            ) from None


class OperatorRegistry:
    """Operators by name; `register` is the decorator that adds one."""

    def __init__(self) -> None:
        self._operators: dict[str, Operator] = {}

    def register(
        self,
        name: str,
        input_model: type[In],
        *,
        decision: bool = False,
        finishes: bool = False,
        classifies: bool = False,
    ) -> Callable[[Callable[[In, StepContext], Awaitable[dict[str, Any]]]], OperatorFn]:
        """Register the decorated async function as operator `name`."""

        def wrap(fn: Callable[[In, StepContext], Awaitable[dict[str, Any]]]) -> OperatorFn:
            if name in self._operators:
                raise ValueError(f"operator {name!r} registered twice")
            doc = (fn.__doc__ or "").strip().splitlines()
            self._operators[name] = Operator(
                name, input_model, fn, doc[0] if doc else "", decision, finishes, classifies
            )
            return fn

        return wrap

    def get(self, name: str) -> Operator:
        """The operator called `name`, or OperatorError naming the known ones."""
        try:
            return self._operators[name]
        except KeyError:
            raise OperatorError(
                f"unknown operator {name!r}; known: {', '.join(sorted(self._operators))}",
                code="unknown_operator",
            ) from None

    def names(self) -> set[str]:
        """Every registered operator name."""
        return set(self._operators)

    def all(self) -> list[Operator]:
        """Every registered operator, sorted by name."""
        return [self._operators[n] for n in sorted(self._operators)]
