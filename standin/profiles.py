"""Per-model profiles of the stand-in: accuracy, latency and failures that differ by context.

A profile applies to a chat request whose model (and, optionally, whose whole prompt) fits;
the format is documented with the script format in `standin.script`. Dice come from their
own generator, seeded from the server seed, and are all drawn when the request arrives:
the same seed and request order give the same outcomes, and scripts without profiles draw
nothing from it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from standin.protocol import ProfileStats

DEFAULT_HANG_MS = 30000.0


def model_matches(wanted: str | None, requested: str) -> bool:
    """Return whether `wanted` (None: any) names the requested model, also without prefix."""
    if wanted is None:
        return True
    return wanted in (requested, requested.rsplit("/", 1)[-1])


def compile_match(value: str) -> re.Pattern[str]:
    """Compile a `match` regex (DOTALL), raising ValueError with a readable message."""
    try:
        return re.compile(value, re.DOTALL)
    except re.error as exc:
        raise ValueError(f"invalid regex {value!r}: {exc}") from exc


class Profile(BaseModel):
    """How one model behaves for prompts that fit `match`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    match: str | None = None
    pass_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    latency_ms: float | None = Field(default=None, ge=0.0)
    jitter_ms: float | None = Field(default=None, ge=0.0)
    fail_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    timeout_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    hang_ms: float = Field(default=DEFAULT_HANG_MS, ge=0.0)
    tokens_out: int | None = Field(default=None, ge=0)

    @field_validator("match")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            compile_match(value)
        return value


@dataclass(frozen=True)
class ProfileRoll:
    """The outcome of a profile's dice for one request."""

    index: int
    profile: Profile
    delay_s: float
    hang: bool
    fail: bool
    passes: list[bool] | None
    """One draw per choice when the profile has `pass_rate`, else None."""

    @property
    def hang_s(self) -> float:
        """Return how long the request hangs (0 without a timeout)."""
        return self.profile.hang_ms / 1000.0 if self.hang else 0.0

    def completion_tokens(self, choices: int) -> int | None:
        """Return the completion tokens to report for `choices` answers, or None (computed)."""
        tokens = self.profile.tokens_out
        return None if tokens is None else tokens * choices


class ProfileDice:
    """Finds the profile of a request, rolls its dice and keeps its counters."""

    def __init__(self, profiles: list[Profile], seed: int = 0) -> None:
        self.profiles = profiles
        self._patterns = [compile_match(p.match) if p.match is not None else None for p in profiles]
        self._rng = random.Random(f"weavergen-standin-profiles:{seed}")  # noqa: S311 - simulation
        self.stats = [
            ProfileStats(profile=index, model=p.model, match=p.match)
            for index, p in enumerate(profiles)
        ]

    def find(self, prompt: str, model: str) -> int | None:
        """Return the index of the first profile fitting model and prompt, or None."""
        for index, (profile, pattern) in enumerate(zip(self.profiles, self._patterns, strict=True)):
            if not model_matches(profile.model, model):
                continue
            if pattern is None or pattern.search(prompt):
                return index
        return None

    def roll(self, prompt: str, model: str, choices: int = 1) -> ProfileRoll | None:
        """Roll the dice of the request's profile (counting it), or return None without one.

        Every roll draws the same number of values (3 + one per choice), so changing one
        rate of a profile does not shift the other outcomes."""
        index = self.find(prompt, model)
        if index is None:
            return None
        profile = self.profiles[index]
        rng = self._rng
        jitter, timeout_draw, fail_draw = rng.uniform(-1.0, 1.0), rng.random(), rng.random()
        pass_draws = [rng.random() for _ in range(choices)]
        delay_ms = (profile.latency_ms or 0.0) + jitter * (profile.jitter_ms or 0.0)
        hang = timeout_draw < (profile.timeout_rate or 0.0)
        fail = fail_draw < (profile.fail_rate or 0.0)
        rate = profile.pass_rate
        passes = None if rate is None else [draw < rate for draw in pass_draws]
        stats = self.stats[index]
        stats.requests += 1
        stats.timeouts += int(hang)
        stats.failures += int(fail)
        return ProfileRoll(index, profile, max(0.0, delay_ms) / 1000.0, hang, fail, passes)

    def record_answer(self, index: int, passed: bool | None) -> None:
        """Count one answer of profile `index` as correct (`reply`) or not (`otherwise`)."""
        if passed is None:
            return
        stats = self.stats[index]
        if passed:
            stats.correct += 1
        else:
            stats.incorrect += 1
