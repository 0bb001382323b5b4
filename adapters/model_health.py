"""Which model groups are down: consecutive failed calls per group, a short cool-down.

The router (engine/policies/router.py) never chooses a group that is down. A group is down
after `DOWN_AFTER` consecutive calls that failed because it did not answer (connection
refused, 5xx, timeout, rate limited), for `COOL_DOWN_S` seconds after the last such failure; one
answered call brings it back at once. Failures that say nothing about the group's health
(a bad request, an unknown group) do not count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

DOWN_AFTER = 3  # consecutive unanswered calls
COOL_DOWN_S = 30.0  # how long a group stays down after its last unanswered call
UNANSWERED = frozenset({"timeout", "unavailable", "rate_limit"})


@dataclass
class _Group:
    failures: int = 0  # consecutive unanswered calls
    last_failure: float = 0.0
    last_error: str = ""


@dataclass
class ModelHealth:
    """Per-group health from the calls this process made."""

    clock: object = field(default=time.monotonic)
    _groups: dict[str, _Group] = field(default_factory=dict)

    def answered(self, group: str) -> None:
        """A call to `group` returned an answer."""
        self._groups.pop(group, None)

    def failed(self, group: str, kind: str, message: str) -> None:
        """A call to `group` failed with error kind `kind` (see `ModelCallError.kind`)."""
        if kind not in UNANSWERED:
            return
        g = self._groups.setdefault(group, _Group())
        g.failures += 1
        g.last_failure = self._now()
        g.last_error = message[:300].replace("\x00", "")

    def down(self, group: str) -> str | None:
        """Why `group` is down (None when it is not)."""
        g = self._groups.get(group)
        if g is None or g.failures < DOWN_AFTER:
            return None
        age = self._now() - g.last_failure
        if age > COOL_DOWN_S:
            return None
        return (
            f"{g.failures} calls in a row unanswered, the last {age:.0f} s ago "
            f"(tried again after {COOL_DOWN_S:.0f} s): {g.last_error}"
        )

    def _now(self) -> float:
        now = self.clock()  # type: ignore[operator]
        return float(now)
