"""What a user asks for (`RunRequest`), how to run it (`RunOptions`), and the server's
defaults for those options (`RunDefaults`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from engine.diagrams.ids import PROCESS_ID
from engine.errors import BadRequest
from validation.languages import LanguageName
from validation.mesh import is_test_file

# the languages the validation registry knows (validation/languages.py)
Language = LanguageName
RunStatus = Literal["running", "waiting", "incident", "completed", "failed", "cancelled"]
FINISHED_STATUSES = ("completed", "failed", "cancelled")  # nothing changes a run after these
RUN_VARIABLES = frozenset({"request", "options", "groups"})  # task data a run starts with


def _file_name(name: str) -> str:
    """A request file's name: a relative path of plain characters, never leaving its folder."""
    parts = name.split("/")
    if (
        not re.fullmatch(r"[\w./-]{1,200}", name)
        or name.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise ValueError(
            "file names must be relative paths of letters, digits, '_', '-', '.' "
            "and '/', without '..'"
        )
    return name


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("NUL characters cannot be stored; remove them")
    return text


class RunOptions(BaseModel):
    """How to run a request; unset fields take the server's defaults (see `RunDefaults`)."""

    model_config = ConfigDict(extra="forbid")

    groups: list[Annotated[str, StringConstraints(pattern=r"^[\w.-]{1,64}$")]] | None = Field(
        None, min_length=1, max_length=8, description="model groups that answer in a consensus"
    )
    consensus: bool | None = Field(
        None, description="generate with several model groups and a consensus (quick pattern)"
    )
    max_iterations: int | None = Field(
        None, ge=0, le=20, description="bound of the improve loop; 0 = no improvement"
    )
    escalate: bool | None = Field(
        None, description="ask a person about stuck code that nearly passes (false: give up)"
    )
    prefer: Literal["quality", "speed", "cost"] | None = Field(
        None,
        description="what a step that routes among model groups weighs besides success: "
        "quality (default), speed (latency) or cost (tokens); overrides the diagram's",
    )


@dataclass(frozen=True)
class RunDefaults:
    """The server's defaults for `RunOptions`, and the model groups it knows."""

    groups: tuple[str, ...] = ("coder",)
    consensus: bool = False
    max_iterations: int = 3
    escalate: bool = True
    known_groups: frozenset[str] = frozenset()

    def resolve(self, options: RunOptions) -> dict[str, Any]:
        """The options a run's diagrams read (task data `options`), defaults filled in."""
        groups = list(options.groups or self.groups)
        unknown = [g for g in groups if self.known_groups and g not in self.known_groups]
        if unknown:
            raise BadRequest(
                f"unknown model group(s) {', '.join(unknown)}; models.yaml defines "
                f"{', '.join(sorted(self.known_groups))}"
            )
        return {
            "groups": groups,
            "consensus": self.consensus if options.consensus is None else options.consensus,
            "max_iterations": self.max_iterations
            if options.max_iterations is None
            else options.max_iterations,
            "escalate": self.escalate if options.escalate is None else options.escalate,
            "prefer": options.prefer or "quality",
        }


_FileText = Annotated[str, StringConstraints(max_length=200_000), AfterValidator(_no_nul)]
_FileName = Annotated[str, AfterValidator(_file_name)]


class RunRequest(BaseModel):
    """What a user asks for."""

    text: Annotated[str, AfterValidator(_no_nul)] = Field(min_length=1, max_length=20_000)
    language: Language = "python"
    pattern: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="quick, standard, bug_fix or migration (unset: the orchestrator chooses)",
    )
    diagram: str | None = Field(
        None,
        pattern=f"^{PROCESS_ID}$",
        description="start an uploaded diagram by its process id (e.g. Process_1) instead",
    )
    project: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
        description="the project this request belongs to: memories learned in it are "
        "recalled first for its later requests, and never for another project's",
    )
    files: dict[_FileName, _FileText] = Field(default_factory=dict, max_length=50)
    checks: dict[_FileName, _FileText] = Field(
        default_factory=dict,
        max_length=20,
        description="acceptance tests every validation runs with the code; not shown to models",
    )
    options: RunOptions = Field(default_factory=RunOptions)
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="variables the run starts with (an uploaded diagram's start form); "
        "checked against the start event's form when it has one",
    )

    @model_validator(mode="after")
    def _one_entry(self) -> RunRequest:
        if self.pattern and self.diagram:
            raise ValueError("name a pattern or a diagram, not both")
        return self

    @model_validator(mode="after")
    def _checks_are_tests(self) -> RunRequest:
        wrong = [p for p in self.checks if not is_test_file(self.language, p)]
        if wrong:
            raise ValueError(
                f"checks must be test files for {self.language} (e.g. test_x.py, x.test.js, "
                f"x_test.go): {', '.join(sorted(wrong))}"
            )
        return self
