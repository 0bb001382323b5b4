"""Choosing the stand-in's answer: script rules, then HumanEval replay, then the default."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from standin.humaneval import HumanEvalReplay
from standin.options import StandinOptions
from standin.profiles import ProfileDice
from standin.script import BUILTIN_DEFAULT, Script, ScriptMatcher, load_script

Source = Literal["script", "script_error", "humaneval_reference", "humaneval_broken", "default"]


class Answer(BaseModel):
    """One chosen answer: either content or an HTTP error status."""

    source: Source
    content: str | None = None
    status: int | None = None
    detail: str = ""
    passed: bool | None = None
    """For `pass_rate` rules: True when `reply` was chosen, False for `otherwise`."""


def _script_from(options: StandinOptions) -> Script | None:
    if options.script is not None:
        return options.script
    if options.script_path is not None:
        return load_script(options.script_path)
    return None


class Answerer:
    """Picks answers in the documented order; holds the script, profiles and replay counters."""

    def __init__(self, options: StandinOptions) -> None:
        script = _script_from(options)
        self.matcher = ScriptMatcher(script, options.seed) if script is not None else None
        self.profiles = ProfileDice(script.profiles if script is not None else [], options.seed)
        self.replay = (
            HumanEvalReplay(
                accuracy=options.accuracy,
                model_accuracy=options.model_accuracy,
                seed=options.seed,
                models=options.humaneval_models,
            )
            if options.humaneval
            else None
        )

    @property
    def default(self) -> str:
        """Return the default answer text."""
        return self.matcher.default if self.matcher is not None else BUILTIN_DEFAULT

    def answer(
        self, model: str, prompt: str, nonce: str | None = None, passed: bool | None = None
    ) -> Answer:
        """Return the answer for one choice of one request (`passed`: a profile's draw)."""
        if self.matcher is not None:
            found = self.matcher.match(prompt, model, passed)
            if found is not None:
                detail = f"rule {found.rule_index}"
                if found.status is not None:
                    message = found.reply or f"stand-in model: scripted failure ({detail})"
                    return Answer(
                        source="script_error", status=found.status, content=message, detail=detail
                    )
                return Answer(
                    source="script", content=found.reply or "", detail=detail, passed=found.passed
                )
        if self.replay is not None:
            replayed = self.replay.answer(model, prompt, nonce)
            if replayed is not None:
                source: Source = "humaneval_reference" if replayed.correct else "humaneval_broken"
                detail = replayed.task_id + (f" {replayed.mutation}" if replayed.mutation else "")
                return Answer(source=source, content=replayed.content, detail=detail)
        return Answer(source="default", content=self.default)
