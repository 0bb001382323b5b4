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
    # Profiles (optional; `standin.profiles`) make each model behave differently by context.
    # The FIRST profile whose `model` (required; compared like a rule's) and optional
    # `match` (regex on the whole prompt, DOTALL) fit a chat request applies to it.
    profiles:
      - model: coder
        match: "TEMPLATE: fix_bug"
        pass_rate: 0.4        # replaces the answering rule's `pass_rate` (only rules with
                              # `reply` + `otherwise` use it)
        latency_ms: 800       # wait this long before answering ...
        jitter_ms: 200        # ... plus a uniform draw in [-jitter, +jitter] (never below 0)
        timeout_rate: 0.5     # probability the request first hangs `hang_ms` (default
        hang_ms: 30000        # 30000), then answers: a client with a shorter timeout times out
        fail_rate: 0.1        # probability of HTTP 503 "stand-in model: injected failure
                              # (profile N)"
        tokens_out: 900       # completion tokens reported in usage, per choice (else counted)

Each rule needs `reply`, `replies` or `status`; `reply` and `replies` exclude each other.
Unknown keys are errors, so typos are caught when the file is loaded.

A profile acts after the server-wide latency and failure dice, in this order: its latency,
the timeout dice, the failure dice, then the answer. Its dice come from a generator of
their own seeded from the server seed, so a given seed and request order give the same
outcomes, and scripts without profiles behave exactly as without this feature.
`GET /standin/stats` counts per profile: requests, failures, timeouts, and `correct` /
`incorrect` answers (`reply` / `otherwise` chosen by a `pass_rate` rule).
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from standin.profiles import Profile, compile_match, model_matches

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
        compile_match(value)
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
    """A whole script: ordered rules, the default answer and per-model profiles."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[ScriptRule] = Field(default_factory=list)
    default: str | None = None
    profiles: list[Profile] = Field(default_factory=list)


class ScriptMatch(BaseModel):
    """The answer a script gives for one request."""

    rule_index: int
    reply: str | None
    status: int | None
    passed: bool | None = None
    """For `pass_rate` rules: True when `reply` was chosen, False for `otherwise`."""


def _describe(exc: ValidationError, source: str) -> str:
    """Turn pydantic errors into lines naming the source, the rule index and the problem."""
    lines: list[str] = []
    for err in exc.errors():
        loc = list(err["loc"])
        if len(loc) >= 2 and loc[0] in ("rules", "profiles") and isinstance(loc[1], int):
            where = f"{'rule' if loc[0] == 'rules' else 'profile'} {loc[1]}"
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

    def match(self, prompt: str, model: str, passed: bool | None = None) -> ScriptMatch | None:
        """Return the first matching rule's answer (advancing its counter), or None.

        `passed` (a profile's draw) replaces the rule's own `pass_rate` draw."""
        rules = zip(self.script.rules, self._patterns, strict=True)
        for index, (rule, pattern) in enumerate(rules):
            if not model_matches(rule.model, model) or not pattern.search(prompt):
                continue
            count = self._counts[index]
            self._counts[index] = count + 1
            chosen: bool | None = None
            if rule.replies is not None:
                reply: str | None = rule.replies[min(count, len(rule.replies) - 1)]
            elif rule.pass_rate is not None:
                chosen = self._rng.random() < rule.pass_rate if passed is None else passed
                reply = rule.reply if chosen else rule.otherwise
            else:
                reply = rule.reply
            return ScriptMatch(rule_index=index, reply=reply, status=rule.status, passed=chosen)
        return None
