"""HTTP routes for the learned policies (pattern, route, failure): list them, export one as a
DMN decision table, pin a version of it or unpin, and the drift of live evidence from a pin.
Reads need a viewer; changes need an admin (as storing a decision table does)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from api import policy_actions as actions
from api.deps import Admin, require
from engine.container import Engine
from engine.policies.dmn import POLICIES

router = APIRouter(
    prefix="/api/policies", tags=["policies"], dependencies=[Depends(require("viewer"))]
)
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such policy, table version, or pin"},
    503: {"description": "the learning store did not answer"},
}


def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


EngineDep = Annotated[Engine, Depends(_engine)]


class PinRequest(BaseModel):
    """Which version of `learned_<policy>` to pin; neither: the newest."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(None, ge=1, le=2**31 - 1, description="the version number")
    version_id: int | None = Field(
        None, ge=1, le=2**31 - 1, description="a stored decision version id"
    )


@router.get("")
async def list_policies(engine: EngineDep) -> list[dict[str, Any]]:
    """Each learned policy: its title, whether it learns or is pinned to a DMN table version
    (`pinned`: decision id, version, label such as "pinned DMN v3", who pinned it)."""
    return [await actions.overview(engine, p) for p in POLICIES]


@router.get("/{policy}", responses=_ERRORS)
async def get_policy(policy: str, engine: EngineDep) -> dict[str, Any]:
    """One learned policy, as in the list."""
    return await actions.overview(engine, actions.known(policy))


@router.post("/{policy}/export", status_code=201, responses=_ERRORS)
async def export_policy(policy: str, engine: EngineDep, who: Admin) -> dict[str, Any]:
    """Distil what the policy learned into a DMN table, stored as the next version of
    decision `learned_<policy>` (`editor`: the page that shows and edits it)."""
    return await actions.export(engine, policy, who.name)


@router.post("/{policy}/pin", responses={**_ERRORS, 422: {"description": "not its table"}})
async def pin_policy(
    policy: str,
    engine: EngineDep,
    who: Admin,
    body: Annotated[PinRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Pin the policy to a version of its own table `learned_<policy>` (by `version` number
    or `version_id`; neither: the newest): it decides from the table instead of learning,
    and its decisions' evidence names the table version and rule."""
    chosen = body or PinRequest()
    return await actions.pin(
        engine, policy, who.name, version=chosen.version, version_id=chosen.version_id
    )


@router.delete("/{policy}/pin", responses=_ERRORS)
async def unpin_policy(policy: str, engine: EngineDep, who: Admin) -> dict[str, Any]:
    """Return the policy to learning; 404 when it was not pinned."""
    return await actions.unpin(engine, policy)


@router.get("/{policy}/drift", responses=_ERRORS)
async def policy_drift(policy: str, engine: EngineDep) -> dict[str, Any]:
    """Contexts where live evidence (with enough of it) beats the pinned table's choice by a
    margin; empty, with a note, while the policy learns."""
    return await actions.drift(engine, policy)
