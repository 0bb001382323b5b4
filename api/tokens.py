"""API tokens: random bearer tokens, stored as SHA-256 hashes, each with a role."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.tables import api_tokens

log = logging.getLogger(__name__)
Role = Literal["viewer", "operator", "admin"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "operator": 1, "admin": 2}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name and role."""

    token_id: uuid.UUID
    name: str
    role: str

    def allows(self, role: str) -> bool:
        """True when this principal's role is at least `role`."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


CACHE_SECONDS = 10.0  # how long a verified token is trusted without asking the database
LAST_USED_EVERY = 30.0  # how often last_used_at is written
MAX_CACHED = 10_000


def _hash(token: str) -> str:
    # tokens are 256 random bits, so a plain hash is enough; no salt or slow hash needed
    return hashlib.sha256(token.encode()).hexdigest()


class TokenService:
    """Creates and checks API tokens."""

    def __init__(self, db: AsyncEngine) -> None:
        self.db = db
        self._known: dict[str, tuple[float, Principal]] = {}
        self._used: set[uuid.UUID] = set()
        self._written = time.monotonic()

    async def create(self, *, role: Role, name: str) -> str:
        """Create a token and return it in clear (the only time it is seen)."""
        if role not in ROLE_RANK:
            raise ValueError(f"role must be one of {', '.join(ROLE_RANK)}")
        token = "wg_" + secrets.token_urlsafe(32)
        async with self.db.begin() as conn:
            await conn.execute(
                api_tokens.insert().values(
                    id=uuid.uuid4(), name=name, role=role, token_hash=_hash(token)
                )
            )
        return token

    async def verify(self, token: str) -> Principal | None:
        """The principal for a valid, unrevoked token; None otherwise.

        A verified token is remembered for `CACHE_SECONDS` (so a revocation takes effect
        within that time), and its `last_used_at` is written with the others' every
        `LAST_USED_EVERY` seconds rather than on every request."""
        key = _hash(token)
        now = time.monotonic()
        known = self._known.get(key)
        if known is not None and now - known[0] < CACHE_SECONDS:
            principal = known[1]
        else:
            async with self.db.connect() as conn:
                row = (
                    (
                        await conn.execute(
                            select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.role).where(
                                api_tokens.c.token_hash == key, api_tokens.c.revoked_at.is_(None)
                            )
                        )
                    )
                    .mappings()
                    .first()
                )
            if row is None:
                self._known.pop(key, None)
                return None
            principal = Principal(row["id"], row["name"], row["role"])
            if len(self._known) >= MAX_CACHED:
                self._known.clear()
            self._known[key] = (now, principal)
        self._used.add(principal.token_id)
        if now - self._written >= LAST_USED_EVERY:
            await self.write_last_used()
        return principal

    async def write_last_used(self) -> None:
        """Stamp `last_used_at` on the tokens used since the last write (one statement)."""
        used, self._used = self._used, set()
        self._written = time.monotonic()
        if not used:
            return
        try:
            async with self.db.begin() as conn:
                await conn.execute(
                    update(api_tokens)
                    .where(api_tokens.c.id.in_(used))
                    .values(last_used_at=func.now())
                )
        except Exception:  # a missed stamp is not worth failing a request for
            log.warning("could not record when %d token(s) were last used", len(used))
