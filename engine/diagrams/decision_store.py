"""Decision tables in the database: versions of each DMN decision, stored like diagram
versions (an upload whose decision id is taken is a new version only when asked)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.diagrams.decisions import LoadedDecision
from engine.errors import Conflict, NotFound
from engine.tables import decision_versions

log = logging.getLogger(__name__)


class DecisionStore:
    """Stores checked decision versions and finds the newest ones."""

    def __init__(self, db: AsyncEngine) -> None:
        self.db = db

    async def latest(self, conn: AsyncConnection, ids: set[str]) -> dict[str, Any]:
        """The newest stored version of each of `ids` that exists, by decision id."""
        if not ids:
            return {}
        newest = (
            select(func.max(decision_versions.c.id))
            .where(decision_versions.c.decision_id.in_(ids))
            .group_by(decision_versions.c.decision_id)
        )
        rows = await conn.execute(
            select(decision_versions).where(decision_versions.c.id.in_(newest))
        )
        return {r["decision_id"]: r for r in rows.mappings()}

    async def store(
        self,
        conn: AsyncConnection,
        d: LoadedDecision,
        *,
        created_by: str | None,
        new_version: bool,
    ) -> dict[str, Any]:
        """Store `d` as the next version of its decision (unchanged content keeps its
        version); Conflict when the id is taken and `new_version` is not set."""
        # one writer at a time per decision id, so version numbers never collide
        await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(d.decision_id))))
        latest = (await self.latest(conn, {d.decision_id})).get(d.decision_id)
        if latest is not None and latest["sha256"] == d.sha256:
            return summary(latest, created=False)
        if latest is not None and not new_version:
            raise Conflict(
                f"decision {d.decision_id!r} exists (v{latest['version']}, from "
                f"{latest['filename']}); to store {d.filename} as v{latest['version'] + 1}, "
                "upload it again with new_version=true, or give its decision another id"
            )
        version = latest["version"] + 1 if latest is not None else 1
        row = (
            (
                await conn.execute(
                    decision_versions.insert()
                    .values(
                        decision_id=d.decision_id,
                        name=d.name,
                        version=version,
                        filename=d.filename,
                        xml=d.xml,
                        sha256=d.sha256,
                        created_by=created_by,
                    )
                    .returning(decision_versions)
                )
            )
            .mappings()
            .one()
        )
        log.info("stored decision %s version %s from %s", d.decision_id, version, d.filename)
        return summary(row, created=True)

    async def list(self) -> list[dict[str, Any]]:
        """Every decision with its versions (without XML)."""
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(decision_versions).order_by(
                    decision_versions.c.decision_id, decision_versions.c.version
                )
            )
            out: dict[str, dict[str, Any]] = {}
            for r in rows.mappings():
                d = out.setdefault(r["decision_id"], {"id": r["decision_id"], "versions": []})
                d["name"] = r["name"]
                d["versions"].append(summary(r, created=None))
        return list(out.values())

    async def get(self, decision_id: str) -> dict[str, Any]:
        """One decision: its versions and the newest XML."""
        async with self.db.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        select(decision_versions)
                        .where(decision_versions.c.decision_id == decision_id)
                        .order_by(decision_versions.c.version)
                    )
                )
                .mappings()
                .all()
            )
        if not rows:
            raise NotFound(f"decision {decision_id!r} does not exist; upload its .dmn file")
        return {
            "id": decision_id,
            "name": rows[-1]["name"],
            "versions": [summary(r, created=None) for r in rows],
            "latest_version": rows[-1]["version"],
            "xml": rows[-1]["xml"],
        }

    async def version(self, version_id: int) -> dict[str, Any]:
        """XML and identity of one stored decision version."""
        async with self.db.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(decision_versions).where(decision_versions.c.id == version_id)
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"decision version {version_id} does not exist")
        return {**summary(row, created=None), "xml": row["xml"]}


def summary(row: Any, *, created: bool | None) -> dict[str, Any]:
    """A decision version without its XML."""
    out = {
        "version_id": row["id"],
        "decision_id": row["decision_id"],
        "name": row["name"],
        "version": row["version"],
        "filename": row["filename"],
        "sha256": row["sha256"],
        "created_by": row["created_by"],
        "created_at": row["created_at"].isoformat() if row["created_at"] else None,
    }
    if created is not None:
        out["created"] = created
    return out
