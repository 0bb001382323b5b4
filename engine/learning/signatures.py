"""Failure signatures: validation findings normalized so that the same mistake matches again."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_QUOTED = re.compile(r"(['\"`]).*?\1")
_NUMBER = re.compile(r"\b\d+(\.\d+)?\b")
_SPACE = re.compile(r"\s+")


def signature(finding: Mapping[str, Any]) -> str:
    """`rule: message` with names and numbers replaced, e.g. `ruff.F821: undefined name X`."""
    message = _QUOTED.sub("X", str(finding.get("message", "")))
    message = _NUMBER.sub("N", message)
    message = _SPACE.sub(" ", message).strip()
    return f"{finding.get('rule', 'unknown')}: {message}"[:160]


def signatures(findings: Iterable[Mapping[str, Any]], limit: int = 8) -> list[str]:
    """Distinct signatures of error findings, in order."""
    out: list[str] = []
    for f in findings:
        if f.get("severity", "error") != "error":
            continue
        sig = signature(f)
        if sig not in out:
            out.append(sig)
        if len(out) >= limit:
            break
    return out
