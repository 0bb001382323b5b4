"""Failed sign-ins and bad tokens, counted per client address: past `limit` failures in a
minute that address is answered 429 with `Retry-After` for any credential it sends, until
its oldest failure is a minute old. Other addresses are not affected."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque

from fastapi import HTTPException, Request, status

WINDOW_S = 60.0
MAX_ADDRESSES = 10_000  # remembered at once; the least recently failing are forgotten


class AuthThrottle:
    """Per-address counts of failed credentials in the last minute."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @staticmethod
    def address(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def _recent(self, address: str, now: float) -> deque[float] | None:
        times = self._failures.get(address)
        while times and now - times[0] > WINDOW_S:
            times.popleft()
        if times is not None and not times:
            del self._failures[address]
            return None
        return times

    def check(self, request: Request) -> None:
        """429 when this address failed `limit` times in the last minute."""
        now = time.monotonic()
        times = self._recent(self.address(request), now)
        if times is not None and len(times) >= self.limit:
            wait = max(1, math.ceil(WINDOW_S - (now - times[0])))
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"too many failed sign-ins or bad tokens from {self.address(request)}; "
                f"try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )

    def failed(self, request: Request) -> None:
        """Count one failure for this address."""
        address = self.address(request)
        times = self._failures.setdefault(address, deque(maxlen=self.limit))
        times.append(time.monotonic())
        self._failures.move_to_end(address)
        while len(self._failures) > MAX_ADDRESSES:
            self._failures.popitem(last=False)
