"""A finished run's memories (engine/memory/__init__.py says what each kind is for).

- solution: a completed run — the request, what was written (files, the functions defined)
  and the checks that passed.
- fix: a failure signature and the change that fixed it (from the improve iterations that
  helped), with the model group that made it.
- correction: a person's answer with a comment, or a rejection — what they said, and the
  names in the code they objected to (`avoid`: names the comment mentions, in backticks when
  it quotes any, that occur as identifiers in the code they saw).
- outcome: the pattern's result on this request (what `decide.pattern` weighs for similar
  requests later).

Ids are stable (kind, run, element or signature), so recording a run twice replaces its
memories instead of doubling them.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from adapters.learning import FailureFix, Memory, RunOutcome
from engine.memory.framework import detect_framework

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUOTED = re.compile(r"`([^`]{1,80})`")
_DEFINES = re.compile(
    r"^\s*(?:async\s+def|def|func|function|class|export\s+function)\s+[^\n:{]{1,100}",
    re.MULTILINE,
)
_COMMON = frozenset(
    {"the", "and", "for", "not", "use", "with", "this", "that", "code", "from", "into"}
    | {"when", "then", "than", "are", "was", "were", "you", "your", "its", "has", "have"}
    | {"should", "must", "please", "instead", "here", "there", "what", "why", "how", "only"}
)


def avoid_names(comment: str, files: dict[str, str]) -> list[str]:
    """Names a comment objects to that the code uses (see the module docstring)."""
    code_names = {n for text in files.values() for n in _NAME.findall(text)}
    quoted = [n for span in _QUOTED.findall(comment) for n in _NAME.findall(span)]
    words = quoted or [w for w in _NAME.findall(comment) if len(w) >= 3]
    seen: list[str] = []
    for w in words:
        if w in code_names and w.lower() not in _COMMON and w not in seen:
            seen.append(w)
    return seen[:8]


def _defines(files: dict[str, str]) -> list[str]:
    out: list[str] = []
    for path, text in files.items():
        if "test" in path.rsplit("/", 1)[-1].lower():
            continue
        out.extend(m.group(0).strip() for m in _DEFINES.finditer(text))
    return out[:3]


def _key(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:16]  # noqa: S324 - an id


def run_memories(
    run: dict[str, Any],
    outcome: RunOutcome,
    files: dict[str, str],
    fixes: list[FailureFix],
    answers: list[tuple[str, dict[str, Any]]],
    model_group: str = "",
) -> list[Memory]:
    """The memories of one finished run. `answers`: (element id, result) of its user tasks;
    `files`: the code it ended with; `model_group`: the group of its last model step."""
    request = run["request"]
    text = str(request.get("text", ""))
    language = outcome.language
    common: dict[str, Any] = {
        "language": language,
        "framework": detect_framework(files, language),
        "project": str(request.get("project") or ""),
        "pattern": outcome.pattern,
        "task_type": outcome.task_type,
        "run_id": outcome.run_id,
        "at": outcome.at,
    }
    out: list[Memory] = []
    verdict = "completed" if outcome.success else "failed"
    out.append(
        Memory(
            id=f"outcome:{outcome.run_id}",
            kind="outcome",
            text=text,
            content=f"pattern {outcome.pattern} {verdict} after {outcome.iterations} "
            "improve iteration(s)",
            success=outcome.success,
            model_group=model_group,
            **common,
        )
    )
    if outcome.success and files:
        names = ", ".join(sorted(files))
        defines = "; ".join(_defines(files))
        out.append(
            Memory(
                id=f"solution:{outcome.run_id}",
                kind="solution",
                text=text,
                content=f"{names}" + (f" — {defines}" if defines else ""),
                success=True,
                model_group=model_group,
                **common,
            )
        )
    for fix in fixes:
        if not fix.fix:
            continue
        out.append(
            Memory(
                id=f"fix:{outcome.run_id}:{_key(fix.signature)}",
                kind="fix",
                text=f"{text}\n{fix.signature}",
                content=fix.fix,
                signature=fix.signature,
                success=True,
                model_group=fix.model_group,
                **common,
            )
        )
    for element, result in answers:
        approved = result.get("approved")
        comment = str(result.get("comment") or "").strip()
        if approved is not False and not comment:
            continue  # a plain approval teaches nothing new
        out.append(
            Memory(
                id=f"correction:{outcome.run_id}:{element}",
                kind="correction",
                text=text,  # matched against later requests; the comment is what is shown
                content=comment or "rejected without a comment",
                success=False if approved is False else None,
                avoid=avoid_names(comment, files),
                model_group=model_group,
                **common,
            )
        )
    return out
