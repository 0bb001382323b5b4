"""Scripted answers for the stand-in model.

A script is a YAML file (``--script PATH``) or an in-process `Script` object::

    # Rules are tried in order against the whole prompt (all message contents joined
    # with "\\n"); the first rule whose `match` regex (re.search, DOTALL) matches, and
    # whose optional `model` equals the requested model, answers.
    rules:
      - match: "TEMPLATE: implement.*add\\\\(a, b\\\\)"
        model: coder          # optional; compared with the requested model name, also
                              # without a provider prefix (`hosted_vllm/coder` -> `coder`)
        reply: |              # either `reply` (always the same) ...
          ...
      - match: "..."
        replies: ["first", "second"]   # ... or `replies`: the n-th matching request gets
                                       # the n-th reply, the last one repeats
      - match: "..."
        reply: "good answer"  # with `pass_rate`: `reply` with that probability, else
        otherwise: "bad"      # `otherwise` (seeded draws; for learning simulations)
        pass_rate: 0.9
      - match: "..."
        status: 500           # optional: answer this HTTP error instead of a reply;
                              # `reply`, if also given, becomes the error message
    default: "I am the WeaverGen stand-in model and have no scripted answer for this prompt."

Each rule needs `reply`, `replies` or `status`; `reply` and `replies` exclude each other.
Unknown keys are errors, so typos are caught when the file is loaded.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

BUILTIN_DEFAULT = "I am the WeaverGen stand-in model and have no scripted answer for this prompt."


class ScriptError(ValueError):
    """A script file or object that cannot be used; the message names file, rule and problem."""


class ScriptRule(BaseModel):
    """One rule: a regex on the prompt, an optional model filter and what to answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: str
    model: str | None = None
    reply: str | None = None
    replies: list[str] | None = None
    status: int | None = Field(default=None, ge=400, le=599)
    pass_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    otherwise: str | None = None

    @field_validator("match")
    @classmethod
    def _regex_compiles(cls, value: str) -> str:
        try:
            re.compile(value, re.DOTALL)
        except re.error as exc:
            raise ValueError(f"invalid regex {value!r}: {exc}") from exc
        return value

    @field_validator("replies")
    @classmethod
    def _replies_not_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("`replies` must not be empty")
        return value

    @model_validator(mode="after")
    def _one_answer(self) -> ScriptRule:
        if self.reply is not None and self.replies is not None:
            raise ValueError("give either `reply` or `replies`, not both")
        if self.reply is None and self.replies is None and self.status is None:
            raise ValueError("a rule needs `reply`, `replies` or `status`")
        if self.replies is not None and self.status is not None:
            raise ValueError("`status` goes with `reply` (the error message), not `replies`")
        if (self.pass_rate is None) != (self.otherwise is None) or (
            self.pass_rate is not None and self.reply is None
        ):
            raise ValueError("`pass_rate` needs both `reply` and `otherwise`")
        return self

    def pattern(self) -> re.Pattern[str]:
        """Return the compiled `match` regex."""
        return re.compile(self.match, re.DOTALL)


class Script(BaseModel):
    """A whole script: ordered rules and the default answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[ScriptRule] = Field(default_factory=list)
    default: str | None = None


class ScriptMatch(BaseModel):
    """The answer a script gives for one request."""

    rule_index: int
    reply: str | None
    status: int | None


def _describe(exc: ValidationError, source: str) -> str:
    """Turn pydantic errors into lines naming the source, the rule index and the problem."""
    lines: list[str] = []
    for err in exc.errors():
        loc = list(err["loc"])
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            where = f"rule {loc[1]}"
            field = ".".join(str(p) for p in loc[2:])
        else:
            where = "script"
            field = ".".join(str(p) for p in loc)
        message = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{source}: {where}: {field + ': ' if field else ''}{message}")
    return "\n".join(lines)


def parse_script(data: Any, source: str = "<script>") -> Script:
    """Validate parsed YAML/JSON data as a script; raise ScriptError naming what is wrong."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ScriptError(f"{source}: script: expected a mapping with `rules`, got {kind}")
    try:
        return Script.model_validate(data)
    except ValidationError as exc:
        raise ScriptError(_describe(exc, source)) from exc


def load_script(path: Path) -> Script:
    """Load and validate a YAML script file; raise ScriptError naming file, rule and problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"{path}: cannot read script: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScriptError(f"{path}: invalid YAML: {exc}") from exc
    return parse_script(data, str(path))


def _model_matches(wanted: str | None, requested: str) -> bool:
    if wanted is None:
        return True
    return wanted in (requested, requested.rsplit("/", 1)[-1])


class ScriptMatcher:
    """Applies a script to prompts, keeping the per-rule counters that `replies` needs."""

    def __init__(self, script: Script, seed: int = 0) -> None:
        self.script = script
        self._rng = random.Random(seed)  # noqa: S311 - simulation, not security
        self._patterns = [rule.pattern() for rule in script.rules]
        self._counts = [0] * len(script.rules)

    @property
    def default(self) -> str:
        """Return the script's default answer or the built-in one."""
        return self.script.default if self.script.default is not None else BUILTIN_DEFAULT

    def match(self, prompt: str, model: str) -> ScriptMatch | None:
        """Return the first matching rule's answer (advancing its counter), or None."""
        rules = zip(self.script.rules, self._patterns, strict=True)
        for index, (rule, pattern) in enumerate(rules):
            if not _model_matches(rule.model, model) or not pattern.search(prompt):
                continue
            count = self._counts[index]
            self._counts[index] = count + 1
            if rule.replies is not None:
                reply: str | None = rule.replies[min(count, len(rule.replies) - 1)]
            elif rule.pass_rate is not None:
                reply = rule.reply if self._rng.random() < rule.pass_rate else rule.otherwise
            else:
                reply = rule.reply
            return ScriptMatch(rule_index=index, reply=reply, status=rule.status)
        return None
