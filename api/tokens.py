"""API tokens: random bearer tokens, stored as SHA-256 hashes, each with a role."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.tables import api_tokens

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


def _hash(token: str) -> str:
    # tokens are 256 random bits, so a plain hash is enough; no salt or slow hash needed
    return hashlib.sha256(token.encode()).hexdigest()


class TokenService:
    """Creates and checks API tokens."""

    def __init__(self, db: AsyncEngine) -> None:
        self.db = db

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
        """The principal for a valid, unrevoked token; None otherwise."""
        async with self.db.begin() as conn:
            row = (
                (
                    await conn.execute(
                        select(api_tokens).where(
                            api_tokens.c.token_hash == _hash(token),
                            api_tokens.c.revoked_at.is_(None),
                        )
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            await conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == row["id"])
                .values(last_used_at=func.now())
            )
        return Principal(row["id"], row["name"], row["role"])
