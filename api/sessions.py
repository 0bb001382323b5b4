"""Browser sessions: signing in with an API token gives a session cookie and a CSRF token.

The cookie value is 256 random bits; only its SHA-256 is stored. A session lives as long as
its token is not revoked and at most `SESSION_HOURS`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.tokens import Principal
from engine.tables import api_tokens, web_sessions

SESSION_HOURS = 12


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser: who it is and the token its forms must carry."""

    principal: Principal
    csrf: str
    expires_at: datetime


def _key(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


class SessionService:
    """Creates, finds and ends browser sessions."""

    def __init__(self, db: AsyncEngine) -> None:
        self.db = db

    async def create(self, principal: Principal) -> tuple[str, WebSession]:
        """A new session for `principal`; returns the cookie value (seen only here)."""
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires = now + timedelta(hours=SESSION_HOURS)
        async with self.db.begin() as conn:
            await conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now))
            await conn.execute(
                web_sessions.insert().values(
                    id=_key(cookie), token_id=principal.token_id, csrf=csrf, expires_at=expires
                )
            )
        return cookie, WebSession(principal, csrf, expires)

    async def find(self, cookie: str) -> WebSession | None:
        """The live session for a cookie value, or None (unknown, expired, token revoked)."""
        q = (
            select(web_sessions.c.csrf, web_sessions.c.expires_at, api_tokens)
            .join(api_tokens, api_tokens.c.id == web_sessions.c.token_id)
            .where(
                web_sessions.c.id == _key(cookie),
                web_sessions.c.expires_at > datetime.now(UTC),
                api_tokens.c.revoked_at.is_(None),
            )
        )
        async with self.db.connect() as conn:
            row = (await conn.execute(q)).mappings().first()
        if row is None:
            return None
        principal = Principal(row["id"], row["name"], row["role"])
        return WebSession(principal, row["csrf"], row["expires_at"])

    async def end(self, cookie: str) -> None:
        """Sign out: forget the session."""
        async with self.db.begin() as conn:
            await conn.execute(delete(web_sessions).where(web_sessions.c.id == _key(cookie)))
