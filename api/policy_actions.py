"""What the policies API and page do with the learned policies (issue 16): list them with their
pins, export one as a DMN table (a new version of decision `learned_<policy>`, which the DMN
editor at /decisions/learned_<policy> shows and saves), pin a version, unpin, and report where
live evidence disagrees with a pinned table (`engine.policies.distil.drift`)."""

from __future__ import annotations

from typing import Any

from adapters.learning import LearningUnavailable
from engine.container import Engine
from engine.errors import BadRequest, EngineError, NotFound
from engine.policies import distil
from engine.policies.dmn import POLICIES, TITLES, decision_id
from engine.policies.journal import Pin
from engine.policies.service import Policies


class PolicyStoreUnavailable(EngineError):
    """503: the learning store a policy's evidence comes from cannot answer right now."""

    status_code = 503


def known(policy: str) -> str:
    """`policy` when it is one of the learned policies, else a 404 naming them."""
    if policy not in POLICIES:
        raise NotFound(
            f"there is no learned policy {policy!r}; the learned policies are {', '.join(POLICIES)}"
        )
    return policy


def _policies(engine: Engine) -> Policies:
    found = engine.services.policies
    if found is None:  # the composition root always builds them; a bare test engine may not
        raise PolicyStoreUnavailable("this server was started without the learned policies")
    return found


def pin_view(pin: Pin | None) -> dict[str, Any] | None:
    """A pin as the API shows it (no XML)."""
    if pin is None:
        return None
    return {
        "decision_id": pin.decision_id,
        "version": pin.version,
        "version_id": pin.version_id,
        "label": pin.label,
        "pinned_by": pin.pinned_by,
    }


async def _versions(engine: Engine, policy: str) -> list[dict[str, Any]]:
    """The stored versions of the policy's table, oldest first ([] before an export)."""
    try:
        table = await engine.catalog.decisions.get(decision_id(policy))
    except NotFound:
        return []
    return list(table["versions"])


async def overview(engine: Engine, policy: str) -> dict[str, Any]:
    """One policy: what it decides, whether it learns or is pinned, its table's versions."""
    pin = await _policies(engine).journal.pin(policy)
    versions = await _versions(engine, policy)
    return {
        "policy": policy,
        "title": TITLES[policy],
        "state": "pinned" if pin else "learning",
        "pinned": pin_view(pin),
        "decision_id": decision_id(policy),
        "latest_version": versions[-1]["version"] if versions else None,
        "editor": f"/decisions/{decision_id(policy)}" if versions else None,
    }


async def export(engine: Engine, policy: str, by: str | None) -> dict[str, Any]:
    """Distil what the policy learned into a DMN table stored as the next version of
    `learned_<policy>` (the same content keeps its version)."""
    try:
        xml, rules = await distil.export(_policies(engine), known(policy))
    except LearningUnavailable as exc:
        raise PolicyStoreUnavailable(
            f"the {policy} policy cannot be exported now: the learning store did not "
            f"answer ({exc}); try again when it is back"
        ) from exc
    did = decision_id(policy)
    stored = await engine.catalog.binding.add_decision(
        xml.encode(), f"{did}.dmn", created_by=by, new_version=True
    )
    return {
        "policy": policy,
        "decision_id": stored["decision_id"],
        "version": stored["version"],
        "version_id": stored["version_id"],
        "created": stored["created"],
        "rules": rules,
        "editor": f"/decisions/{did}",
    }


async def _version_to_pin(
    engine: Engine, policy: str, version: int | None, version_id: int | None
) -> int:
    """The decision version id a pin request names (default: the newest of the table)."""
    did = decision_id(policy)
    if version_id is not None:
        try:
            found = await engine.catalog.decisions.version(version_id)
        except NotFound:
            raise NotFound(
                f"decision table version id {version_id} does not exist; export the {policy} "
                f"policy first (POST /api/policies/{policy}/export)"
            ) from None
        if found["decision_id"] != did:
            raise BadRequest(
                f"version id {version_id} is v{found['version']} of decision "
                f"{found['decision_id']!r}; the {policy} policy can only be pinned to a "
                f"version of its own table {did!r}"
            )
        if version is not None and version != found["version"]:
            raise BadRequest(
                f"version id {version_id} is v{found['version']} of {did}, not v{version}; "
                "give one of version and version_id"
            )
        return version_id
    versions = await _versions(engine, policy)
    if not versions:
        raise NotFound(
            f"the {policy} policy has no DMN table {did!r} yet: export it first "
            f"(POST /api/policies/{policy}/export)"
        )
    if version is None:
        return int(versions[-1]["version_id"])
    for v in versions:
        if v["version"] == version:
            return int(v["version_id"])
    raise NotFound(
        f"{did} has no version {version} (it has v1 to v{versions[-1]['version']}); export "
        f"the {policy} policy again or save the table in the editor to make a new one"
    )


async def pin(
    engine: Engine,
    policy: str,
    by: str | None,
    *,
    version: int | None = None,
    version_id: int | None = None,
) -> dict[str, Any]:
    """Pin the policy to a version of its table: it decides from the table, not learning."""
    chosen = await _version_to_pin(engine, known(policy), version, version_id)
    await _policies(engine).journal.set_pin(policy, chosen, by)
    return await overview(engine, policy)


async def unpin(engine: Engine, policy: str) -> dict[str, Any]:
    """Return the policy to learning."""
    if not await _policies(engine).journal.unpin(known(policy)):
        raise NotFound(f"the {policy} policy is not pinned: it already learns")
    return await overview(engine, policy)


async def drift(engine: Engine, policy: str) -> dict[str, Any]:
    """Where live evidence, with enough of it, beats the pinned table's choice."""
    policies = _policies(engine)
    pinned = await policies.journal.pin(known(policy))
    if pinned is None:
        return {
            "policy": policy,
            "pinned": None,
            "disagreements": [],
            "note": f"the {policy} policy is not pinned: it learns, so nothing can drift",
        }
    try:
        found = await distil.drift(policies, policy, pinned.xml)
    except LearningUnavailable as exc:
        raise PolicyStoreUnavailable(
            f"drift of the {policy} policy cannot be computed now: the learning store did "
            f"not answer ({exc})"
        ) from exc
    note = (
        f"{len(found)} context(s) where what was learned beats {pinned.label}"
        if found
        else f"live evidence agrees with {pinned.label} (or is too thin to disagree)"
    )
    return {
        "policy": policy,
        "pinned": pinned.label,
        "decision_id": pinned.decision_id,
        "version": pinned.version,
        "disagreements": found,
        "note": note,
    }
