"""Decision tables bound to diagrams: a diagram version is built with the decision tables its
business rule tasks call (uploaded beside it, else the newest stored ones) and records
their versions; a new version of a decision table rebuilds the diagrams whose newest
version calls it, so new runs use it while runs that pinned the old one keep it.

`DecisionBinding` is a part of `DiagramCatalog` (`catalog.binding`; it uses the catalog's
`check` and `_store`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.diagrams.decision_store import DecisionStore
from engine.diagrams.decisions import LoadedDecision, load_decision
from engine.diagrams.loading import LoadedDiagram, decision_refs, parse_xml

if TYPE_CHECKING:
    from engine.diagrams.catalog import DiagramCatalog
from engine.errors import DiagramInvalid
from engine.tables import diagram_versions

log = logging.getLogger(__name__)
AtHand = dict[str, tuple[str, str, int | None]]  # decision id -> (XML, sha256, version id)


class DecisionBinding:
    """The catalog's decision-table half (`DiagramCatalog.binding`)."""

    def __init__(self, catalog: DiagramCatalog) -> None:
        self.catalog = catalog
        self.decisions: DecisionStore = catalog.decisions

    async def check_upload(
        self,
        data: bytes,
        filename: str,
        decision_files: Sequence[tuple[bytes, str]] = (),
        form_files: Mapping[str, bytes] | None = None,
    ) -> LoadedDiagram:
        """`check` with the decision tables uploaded beside it, else the stored ones."""
        uploaded = load_decisions(decision_files)
        async with self.catalog.db.connect() as conn:
            at_hand = await self.decisions_at_hand(conn, data, filename, uploaded)
            stored = await self.catalog.stored_forms(conn, data, filename)
        decisions = {k: v[:2] for k, v in at_hand.items()}
        files = {**self.catalog.shipped_forms, **(form_files or {})}
        return self.catalog.check(
            data, filename, decisions=decisions, form_files=files, stored_forms=stored
        )

    async def add_decision(
        self, data: bytes, filename: str, *, created_by: str | None, new_version: bool = False
    ) -> dict[str, Any]:
        """Check and store a decision table; the diagrams whose newest version calls it get
        a new version built with it (`rebound`), so new runs use it and runs that pinned
        the old one keep it."""
        [loaded] = load_decisions([(data, filename)])
        async with self.catalog.db.begin() as conn:
            out = await self.decisions.store(
                conn, loaded, created_by=created_by, new_version=new_version
            )
            if not out["created"]:
                return {**out, "rebound": []}
            rebound = await self._rebind(conn, loaded.decision_id, created_by)
        return {**out, "rebound": rebound}

    async def _rebind(
        self, conn: AsyncConnection, decision_id: str, created_by: str | None
    ) -> list[dict[str, Any]]:
        newest = (
            select(func.max(diagram_versions.c.id))
            .group_by(diagram_versions.c.diagram_id)
            .scalar_subquery()
        )
        rows = await conn.execute(
            select(diagram_versions).where(
                diagram_versions.c.id.in_(newest),
                diagram_versions.c.decisions.has_key(decision_id),
                diagram_versions.c.retired_at.is_(None),
            )
        )
        rebound = []
        for row in rows.mappings().all():
            latest = await self.decisions.latest(conn, set(row["decisions"]))
            at_hand = {k: (r["xml"], r["sha256"]) for k, r in latest.items()}
            try:
                loaded = self.catalog.check(row["xml"].encode(), row["filename"], decisions=at_hand)
            except DiagramInvalid as exc:
                log.warning(
                    "diagram %s not rebuilt with %s: %s", row["diagram_id"], decision_id, exc
                )
                continue
            pinned = {k: latest[k]["id"] for k in loaded.decisions}
            rebound.append(
                await self.catalog._store(
                    conn,
                    loaded,
                    source="decision",
                    created_by=created_by,
                    decisions=pinned,
                    forms=row["forms"],  # its form files are not at hand: keep what it had
                )
            )
        return rebound

    async def decisions_at_hand(
        self,
        conn: AsyncConnection,
        data: bytes,
        filename: str,
        uploaded: list[LoadedDecision],
    ) -> dict[str, tuple[str, str, int | None]]:
        """Decision id -> (XML, sha256, stored version id) for what the diagram's business
        rule tasks call: the uploaded tables first, else the newest stored ones."""
        at_hand: dict[str, tuple[str, str, int | None]] = {
            d.decision_id: (d.xml, d.sha256, None) for d in uploaded
        }
        refs = {ref for _, ref in decision_refs(parse_xml(data, filename).getroot()) if ref}
        for decision_id, row in (await self.decisions.latest(conn, refs - set(at_hand))).items():
            at_hand[decision_id] = (row["xml"], row["sha256"], row["id"])
        return at_hand


def load_decisions(files: Sequence[tuple[bytes, str]]) -> list[LoadedDecision]:
    """Check every .dmn file; DiagramInvalid with the problems of all of them."""
    loaded, problems = [], []
    for data, filename in files:
        try:
            loaded.append(load_decision(data, filename))
        except DiagramInvalid as exc:
            problems += exc.problems
    if problems:
        raise DiagramInvalid(problems)
    return loaded
