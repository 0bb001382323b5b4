"""The FastAPI application: routes, error mapping, OpenAPI docs."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api import routes_diagrams, routes_runs
from engine.container import Engine
from engine.errors import DiagramInvalid, EngineError
from engine.queries import RunQueries
from engine.tokens import TokenService

log = logging.getLogger(__name__)


def create_app(engine: Engine) -> FastAPI:
    """The HTTP API over an already built engine."""
    app = FastAPI(
        title="WeaverGen",
        description="BPMN orchestration of AI code generation. Models in tests are a stand-in.",
        version="0.1.0",
    )
    app.state.engine = engine
    app.state.queries = RunQueries(engine.db)
    app.state.tokens = TokenService(engine.db)
    app.include_router(routes_runs.router)
    app.include_router(routes_diagrams.router)

    @app.exception_handler(DiagramInvalid)
    async def diagram_invalid(request: Request, exc: DiagramInvalid) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={
                "detail": "the diagram was rejected; fix the problems listed in errors",
                "errors": [
                    {
                        "file": p.file,
                        "element_id": p.element_id,
                        "line": p.line,
                        "message": p.message,
                    }
                    for p in exc.problems
                ],
            },
        )

    @app.exception_handler(EngineError)
    async def engine_error(request: Request, exc: EngineError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.message})

    @app.get("/health", tags=["meta"])
    async def health() -> dict[str, str]:
        """Liveness."""
        return {"status": "ok"}

    return app
