"""The engine's object graph, built once per process by a composition root."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.database import EmbeddedPostgres, create_engine, libpq_url
from adapters.models import ModelRouter, load_models_config
from adapters.sandbox import Limits, Sandbox
from engine.diagrams.catalog import DiagramCatalog
from engine.learning import Learning, build_learning
from engine.learning.events import LearningEvents
from engine.migrate import upgrade
from engine.ops import OPERATORS
from engine.policies.journal import Journal
from engine.policies.service import Policies
from engine.prompts import PromptLibrary
from engine.runs import RunDefaults, RunService
from engine.runs.cache import WorkflowCache
from engine.runs.state import WorkflowCodec
from engine.settings import Settings
from engine.steps.contract import OperatorRegistry, OperatorSettings, Services
from engine.steps.runner import StepRunner
from validation.mesh import ValidationMesh
from validation.tool_paths import Toolchain

log = logging.getLogger(__name__)


@dataclass
class Database:
    """The run database: its URL, and the embedded server when we started one."""

    url: str
    embedded: EmbeddedPostgres | None = None

    def close(self) -> None:
        """Release the embedded server (the last process out stops it)."""
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None


def open_database(settings: Settings) -> Database:
    """Connect to DATABASE_URL, or start the embedded PostgreSQL; then migrate the schema."""
    if settings.database_url is not None:
        db = Database(settings.database_url.get_secret_value())
    else:
        embedded = EmbeddedPostgres(settings.database_dir())
        db = Database(embedded.start(), embedded)
    upgrade(db.url)
    return db


@dataclass
class Engine:
    """Everything a server or worker process needs to run diagrams."""

    settings: Settings
    database: Database
    db: AsyncEngine
    operators: OperatorRegistry
    catalog: DiagramCatalog
    runs: RunService
    models: ModelRouter
    prompts: PromptLibrary
    runner: StepRunner
    learning: Learning
    services: Services

    @property
    def events(self) -> LearningEvents:
        """Where this engine's steps and runs report to the learning recorder."""
        return self.runs.kernel.events

    @property
    def conninfo(self) -> str:
        """The database URL in libpq form (for the job queue)."""
        return libpq_url(self.database.url)

    async def close(self) -> None:
        """Dispose connections and release the database."""
        await self.learning.close()
        self.services.validation.sandbox.close()  # its fork servers
        await self.db.dispose()
        self.database.close()


def build_engine(
    settings: Settings,
    database: Database,
    *,
    pool_size: int = 10,
    pool_timeout: float = 10.0,
    pre_ping: bool = False,
    events: LearningEvents | None = None,
) -> Engine:
    """Wire the engine objects together (`pool_timeout`: how long a transaction may wait for
    a connection; `events`: share one learning queue between engines of one process)."""
    for module in filter(None, (m.strip() for m in settings.operator_modules.split(","))):
        importlib.import_module(module)  # registers its operators
    db = create_engine(
        database.url, pool_size=pool_size, pool_timeout=pool_timeout, pre_ping=pre_ping
    )
    catalog = DiagramCatalog(
        db, known_operators=OPERATORS.names(), allow_scripts=settings.allow_scripts
    )
    models = ModelRouter(load_models_config(settings.models_file))
    known = frozenset(models.groups())
    wanted = [g.strip() for g in settings.consensus_groups.split(",") if g.strip()]
    groups = [g for g in wanted if g in known]
    if len(groups) < len(wanted):
        log.warning(
            "WEAVERGEN_CONSENSUS_GROUPS names %s, which %s does not define; consensus uses %s",
            ", ".join(g for g in wanted if g not in known),
            settings.models_file,
            ", ".join(groups) or "coder",
        )
    defaults = RunDefaults(
        groups=tuple(groups or ["coder"]),
        consensus=settings.quick_consensus,
        max_iterations=settings.max_iterations,
        known_groups=known,
    )
    prompts = PromptLibrary(settings.templates_dir)
    toolchain = Toolchain.at(settings.toolchain_dir)
    mesh = ValidationMesh(
        Sandbox(read_only=toolchain.read_only_paths(), fork_server=settings.sandbox_fork_server),
        toolchain,
        limits=Limits(
            cpu_seconds=settings.sandbox_cpu_seconds,
            memory_mb=settings.sandbox_memory_mb,
            wall_seconds=settings.validation_timeout_seconds,
        ),
    )
    learning = build_learning(settings, db)
    cache = WorkflowCache(settings.workflow_cache)
    codec = WorkflowCodec()
    runs = RunService(
        db, catalog, codec, defaults, events, cache, step_records=learning.step_records()
    )
    services = Services(
        learning=learning,
        models=models,
        prompts=prompts,
        validation=mesh,
        settings=OperatorSettings(
            min_evidence=settings.learning_min_evidence,
            exploration=settings.learning_exploration,
            script_cpu_seconds=settings.script_cpu_seconds,
            script_memory_mb=settings.script_memory_mb,
        ),
        policies=Policies(
            Journal(db),
            learning,
            models,
            min_evidence=settings.learning_min_evidence,
            exploration=settings.learning_exploration,
            max_attempts=settings.max_attempts,
            retry_base_seconds=settings.retry_base_seconds,
        ),
    )
    runner = StepRunner(
        runs,
        OPERATORS,
        services,
        max_attempts=settings.max_attempts,
        retry_base_seconds=settings.retry_base_seconds,
    )
    return Engine(
        settings,
        database,
        db,
        OPERATORS,
        catalog,
        runs,
        models,
        prompts,
        runner,
        learning,
        services,
    )
