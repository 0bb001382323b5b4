"""The run database's record of learned choices (`policy_decisions`) and of pins
(`policy_pins`): what the run page shows, which groups already failed a step, which failure
decisions wait for the step to end, and which DMN table version a policy is pinned to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.errors import BadRequest, NotFound
from engine.policies.dmn import decide
from engine.tables import decision_versions, policy_decisions, policy_pins


@dataclass(frozen=True)
class Pin:
    """A policy pinned to a DMN table version."""

    policy: str
    version_id: int
    decision_id: str
    version: int
    xml: str
    pinned_by: str | None

    @property
    def label(self) -> str:
        return f"pinned DMN v{self.version}"


class Journal:
    """Reads and writes of the learned policies in the run database."""

    def __init__(self, db: AsyncEngine) -> None:
        self.db = db

    async def record(
        self,
        run_id: UUID,
        task_id: UUID,
        element_id: str,
        policy: str,
        *,
        context: dict[str, Any],
        choice: str,
        explored: bool,
        evidence: dict[str, Any],
    ) -> int:
        """Keep one choice; returns its id."""
        async with self.db.begin() as conn:
            row = await conn.execute(
                policy_decisions.insert()
                .values(
                    run_id=run_id,
                    task_id=task_id,
                    element_id=element_id,
                    policy=policy,
                    context=_clean(context),
                    choice=choice,
                    explored=explored,
                    evidence=_clean(evidence),
                )
                .returning(policy_decisions.c.id)
            )
            return int(row.scalar_one())

    async def settle_route(self, decision_id: int, success: bool) -> bool:
        """Mark a route decision with its outcome; False when it already has one (a step run
        again after a lost acknowledgement must not teach the router twice)."""
        d = policy_decisions.c
        async with self.db.begin() as conn:
            done = await conn.execute(
                update(policy_decisions)
                .where(d.id == decision_id, d.policy == "route", d.settled_at.is_(None))
                .values(success=success, settled_at=func.now())
                .returning(d.id)
            )
            return done.first() is not None

    async def failures(self, task_id: UUID) -> list[tuple[str, str]]:
        """(action, model group) of the failure policy's choices for this step, oldest first:
        the router switches away from a group after "switch" and keeps it after "retry"."""
        d = policy_decisions.c
        q = (
            select(d.choice, d.context["group"].astext)
            .where(d.task_id == task_id, d.policy == "failure")
            .order_by(d.id)
        )
        async with self.db.connect() as conn:
            return [(str(c), str(g or "")) for c, g in (await conn.execute(q)).all()]

    async def settle(self, task_id: UUID, success: bool) -> list[dict[str, Any]]:
        """Mark the failure decisions of a step that just ended; returns them (with the
        seconds from each decision to now) so their outcomes can be learned."""
        d = policy_decisions.c
        async with self.db.begin() as conn:
            rows = await conn.execute(
                update(policy_decisions)
                .where(d.task_id == task_id, d.policy == "failure", d.settled_at.is_(None))
                .values(success=success, settled_at=func.now())
                .returning(
                    d.run_id,
                    d.element_id,
                    d.context,
                    d.choice,
                    d.explored,
                    (func.extract("epoch", func.now() - d.created_at) * 1000).label("ms"),
                )
            )
            return [dict(r._mapping) for r in rows]

    async def for_run(self, run_id: UUID) -> list[dict[str, Any]]:
        """A run's learned choices, oldest first (the run page's "Learned decisions")."""
        d = policy_decisions.c
        q = (
            select(
                d.id,
                d.task_id,
                d.element_id,
                d.policy,
                d.context,
                d.choice,
                d.explored,
                d.evidence,
                d.created_at,
                d.success,
            )
            .where(d.run_id == run_id)
            .order_by(d.id)
        )
        async with self.db.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [
            {**r._mapping, "task_id": str(r.task_id), "created_at": r.created_at.isoformat()}
            for r in rows
        ]

    async def pin(self, policy: str) -> Pin | None:
        """The table version `policy` is pinned to, or None (it learns)."""
        p, v = policy_pins.c, decision_versions.c
        q = (
            select(p.policy, v.id, v.decision_id, v.version, v.xml, p.pinned_by)
            .join(decision_versions, v.id == p.decision_version)
            .where(p.policy == policy)
        )
        async with self.db.connect() as conn:
            row = (await conn.execute(q)).first()
        return Pin(*row) if row else None

    async def set_pin(self, policy: str, version_id: int, by: str | None) -> Pin:
        """Pin `policy` to a stored decision table version (replacing an earlier pin)."""
        async with self.db.begin() as conn:
            known = (
                await conn.execute(
                    select(decision_versions.c.decision_id).where(
                        decision_versions.c.id == version_id
                    )
                )
            ).first()
            if known is not None and known[0] != f"learned_{policy}":
                raise BadRequest(
                    f"decision table version {version_id} is {known[0]!r}; the {policy} policy "
                    f"can only be pinned to a version of learned_{policy}"
                )
            if known is None:
                raise NotFound(
                    f"decision table version {version_id} does not exist; export the "
                    f"{policy} policy as DMN first (POST /api/policies/{policy}/export)"
                )
            stmt = insert(policy_pins).values(
                policy=policy, decision_version=version_id, pinned_by=by
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[policy_pins.c.policy],
                    set_={
                        "decision_version": version_id,
                        "pinned_by": by,
                        "created_at": func.now(),
                    },
                )
            )
        pinned = await self.pin(policy)
        if pinned is None:  # unpinned by someone else in between
            raise NotFound(f"policy {policy!r} is not pinned")
        return pinned

    async def pinned_choice(
        self,
        policy: str,
        inputs: dict[str, str],
        allowed: list[str],
        evidence: dict[str, Any],
        *,
        unusable: str,
        unmatched: str,
    ) -> str | None:
        """What the table `policy` is pinned to says for `inputs`, when it is one of `allowed`
        (None: not pinned, no rule matched, or the rule's choice is not possible here; the
        evidence's `pinned` says which, with `unusable` / `unmatched` as the reasons)."""
        pin = await self.pin(policy)
        if pin is None:
            return None
        decided = decide(pin.xml, policy, inputs)
        evidence["pinned"] = {
            "table": pin.decision_id,
            "version": pin.version,
            "rule": decided.rule,
        }
        if decided.output in allowed:
            evidence["rule"] = f"{pin.label}: rule {decided.rule} says {decided.output}"
            return str(decided.output)
        evidence["pinned"]["fell_back"] = decided.error or (
            f"rule {decided.rule} says {decided.output}, {unusable}"
            if decided.output
            else unmatched
        )
        return None

    async def unpin(self, policy: str) -> bool:
        """Return `policy` to learning; False when it was not pinned."""
        async with self.db.begin() as conn:
            done = await conn.execute(policy_pins.delete().where(policy_pins.c.policy == policy))
            return bool(done.rowcount)


def _clean(value: Any) -> Any:
    """`value` without NUL characters in its strings (PostgreSQL's JSONB refuses them; error
    messages of model servers may hold anything)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {str(k).replace("\x00", ""): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
