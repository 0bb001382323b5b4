"""HTTP routes for diagrams and the operators they may use."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Path, Query, Request, UploadFile, status

from api.deps import Admin, Catalog, require
from engine.diagrams import versions
from engine.diagrams.compare import Comparison
from engine.diagrams.loading import MAX_DIAGRAM_BYTES
from engine.errors import DiagramInvalid, DiagramProblem

router = APIRouter(prefix="/api", tags=["diagrams"], dependencies=[Depends(require("viewer"))])


async def _read(file: UploadFile) -> tuple[str, bytes]:
    name = file.filename or "upload.bpmn"
    data = await file.read(MAX_DIAGRAM_BYTES + 1)
    if not name.lower().endswith((".bpmn", ".bpmn20.xml")):
        message = (
            "upload a file ending in .bpmn (or .bpmn20.xml, as Activiti and Flowable name "
            "them); decision tables (.dmn) go in the `decisions` field or POST /api/decisions"
        )
        raise DiagramInvalid([DiagramProblem(name, None, None, message)])
    return name, data


async def _read_forms(files: list[UploadFile]) -> dict[str, bytes]:
    out = {}
    for file in files:
        name = file.filename or "form.json"
        if not name.lower().endswith(".json"):
            message = "a form file is a JSON Schema or UI schema ending in .json"
            raise DiagramInvalid([DiagramProblem(name, None, None, message)])
        out[name] = await file.read(MAX_DIAGRAM_BYTES + 1)
    return out


async def _read_dmn(files: list[UploadFile]) -> list[tuple[bytes, str]]:
    out = []
    for file in files:
        name = file.filename or "upload.dmn"
        if not name.lower().endswith(".dmn"):
            message = "a decision table is a file ending in .dmn"
            raise DiagramInvalid([DiagramProblem(name, None, None, message)])
        out.append((await file.read(MAX_DIAGRAM_BYTES + 1), name))
    return out


DecisionFiles = Annotated[
    list[UploadFile],
    File(description="decision tables (.dmn) the diagram's business rule tasks call"),
]
FormFiles = Annotated[
    list[UploadFile],
    File(description="JSON Schema / UI schema files (.json) the user tasks' forms name"),
]
NewVersion = Annotated[
    bool, Query(description="store as a new version when the id exists (else 409)")
]


@router.post(
    "/diagrams",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "the process id is taken: upload with new_version=true"}},
)
async def upload_diagram(
    file: UploadFile,
    catalog: Catalog,
    who: Admin,
    new_version: NewVersion = False,
    decisions: DecisionFiles = [],  # noqa: B006 - FastAPI copies defaults per request
    forms: FormFiles = [],  # noqa: B006
) -> dict[str, Any]:
    """Check a .bpmn file (and the .dmn decision tables and .json form files beside it)
    and store them; 422 lists every problem; 409 when a diagram with its process id (or a
    decision with its id) exists and `new_version` is not set."""
    name, data = await _read(file)
    return await catalog.add(
        data,
        name,
        source="upload",
        created_by=who.name,
        new_version=new_version,
        decision_files=await _read_dmn(decisions),
        form_files=await _read_forms(forms),
    )


@router.post("/diagrams/check")
async def check_diagram(
    file: UploadFile,
    catalog: Catalog,
    decisions: DecisionFiles = [],  # noqa: B006 - FastAPI copies defaults per request
    forms: FormFiles = [],  # noqa: B006
) -> dict[str, Any]:
    """Check a .bpmn file without storing it; 422 lists every problem with its element."""
    name, data = await _read(file)
    loaded = await catalog.binding.check_upload(
        data, name, await _read_dmn(decisions), await _read_forms(forms)
    )
    warnings = [asdict(w) for w in loaded.warnings]
    return {"ok": True, "process_id": loaded.process_id, "warnings": warnings}


@router.post(
    "/decisions",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "the decision id is taken: upload with new_version=true"}},
)
async def upload_decision(
    file: UploadFile, catalog: Catalog, who: Admin, new_version: NewVersion = False
) -> dict[str, Any]:
    """Check a .dmn decision table and store it; the diagrams whose newest version calls it
    get a new version built with it (`rebound`)."""
    [(data, name)] = await _read_dmn([file])
    return await catalog.binding.add_decision(
        data, name, created_by=who.name, new_version=new_version
    )


@router.get("/decisions")
async def list_decisions(catalog: Catalog) -> list[dict[str, Any]]:
    """Decision tables and their versions."""
    return await catalog.decisions.list()


@router.get("/decisions/{decision_id}")
async def get_decision(decision_id: str, catalog: Catalog) -> dict[str, Any]:
    """One decision table: its versions and the newest XML."""
    return await catalog.decisions.get(decision_id)


@router.get("/decision-versions/{version_id}")
async def get_decision_version(
    version_id: Annotated[int, Path(ge=1, le=2**31 - 1)], catalog: Catalog
) -> dict[str, Any]:
    """One stored decision version with its XML."""
    return await catalog.decisions.version(version_id)


@router.get("/diagrams")
async def list_diagrams(catalog: Catalog) -> list[dict[str, Any]]:
    """Diagrams and their versions."""
    return await catalog.list()


@router.get("/diagrams/{diagram_id}")
async def get_diagram(diagram_id: str, catalog: Catalog) -> dict[str, Any]:
    """One diagram: its versions and the newest XML."""
    return await catalog.get(diagram_id)


VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="the version number")]


@router.get("/diagrams/{diagram_id}/compare")
async def compare_versions(
    diagram_id: str,
    catalog: Catalog,
    base: Annotated[int, Query(ge=1, le=2**31 - 1, description="the older version number")],
    head: Annotated[int, Query(ge=1, le=2**31 - 1, description="the newer version number")],
) -> Comparison:
    """Which BPMN elements version `head` adds, removes and changes against `base`."""
    return await versions.comparison(catalog, diagram_id, base, head)


@router.post(
    "/diagrams/{diagram_id}/versions/{version}/retire",
    responses={409: {"description": "an unfinished run pins the version"}},
)
async def retire_version(
    diagram_id: str, version: VersionNumber, catalog: Catalog, who: Admin
) -> dict[str, Any]:
    """Retire a version: new runs pin the newest version that is not retired; 409 while an
    unfinished run pins it, or when it is a shipped pattern's only runnable version."""
    return await versions.retire(catalog, diagram_id, version, who.name)


@router.get("/diagram-versions/{version_id}")
async def get_diagram_version(
    version_id: Annotated[int, Path(ge=1, le=2**31 - 1)], catalog: Catalog
) -> dict[str, Any]:
    """One stored version with its XML (what a run pinned)."""
    return await catalog.version_xml(version_id)


@router.get("/operators")
async def list_operators(request: Request) -> list[dict[str, Any]]:
    """Operators a service task may name, with their parameters."""
    return [
        {
            "name": op.name,
            "description": op.description,
            "decision": op.decision,
            "parameters": op.input_model.model_json_schema(),
        }
        for op in request.app.state.engine.operators.all()
    ]
