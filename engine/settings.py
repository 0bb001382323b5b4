"""Settings: the one module that reads the environment (and `.env`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every WeaverGen setting; names match `.env.example` and docker-compose.yml."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", validation_alias="WEAVERGEN_HOST")
    port: int = Field(8080, validation_alias="WEAVERGEN_PORT")
    data_dir: Path = Field(Path(".weavergen"), validation_alias="WEAVERGEN_DATA_DIR")
    database_url: SecretStr | None = Field(None, validation_alias="DATABASE_URL")
    models_file: Path = Field(ROOT / "models.yaml", validation_alias="WEAVERGEN_MODELS")
    # the embedded CPU model (adapters/local_model.py): `auto` starts it when no model server
    # answers at models.yaml's URLs and WEAVERGEN_MODELS is not set; `on` always; `off` never
    local_model: Literal["auto", "on", "off"] = Field(
        "auto", validation_alias="WEAVERGEN_LOCAL_MODEL"
    )
    local_model_port: int = Field(8010, validation_alias="WEAVERGEN_LOCAL_MODEL_PORT")
    # CPU threads it computes with (0 = every core) and its context window in tokens (at most
    # what the model was trained on)
    local_model_threads: int = Field(0, ge=0, validation_alias="WEAVERGEN_LOCAL_MODEL_THREADS")
    local_model_context: int = Field(4096, ge=512, validation_alias="WEAVERGEN_LOCAL_MODEL_CONTEXT")
    # another GGUF file to serve (default: SmolLM2-135M-Instruct from `make install`)
    local_model_path: Path | None = Field(None, validation_alias="WEAVERGEN_LOCAL_MODEL_PATH")
    bpmn_dir: Path = Field(ROOT / "bpmn", validation_alias="WEAVERGEN_BPMN_DIR")
    templates_dir: Path = Field(ROOT / "templates", validation_alias="WEAVERGEN_TEMPLATES_DIR")
    # the browser pages' bundled scripts and styles (built from web/ by `make install`)
    web_dist: Path = Field(ROOT / "web" / "dist", validation_alias="WEAVERGEN_WEB_DIST")
    # worker processes `weavergen serve` supervises (0 = none; run `weavergen worker`)
    workers: int = Field(1, validation_alias="WEAVERGEN_WORKERS")
    # concurrent jobs per worker process
    worker_concurrency: int = Field(8, validation_alias="WEAVERGEN_WORKER_CONCURRENCY")
    # workflows a process keeps in memory between a run's steps (0 = restore every step)
    workflow_cache: int = Field(256, ge=0, validation_alias="WEAVERGEN_WORKFLOW_CACHE")
    # admission control: run starts at once, and how many more may wait (then 503 Retry-After)
    intake_concurrency: int = Field(4, ge=1, validation_alias="WEAVERGEN_INTAKE_CONCURRENCY")
    # failed sign-ins and bad tokens one client address may send a minute before 429s
    auth_failures_per_minute: int = Field(
        20, ge=1, validation_alias="WEAVERGEN_AUTH_FAILURES_PER_MINUTE"
    )
    intake_queue: int = Field(256, ge=0, validation_alias="WEAVERGEN_INTAKE_QUEUE")
    # operator attempts before a step becomes a BPMN error or an incident
    max_attempts: int = Field(3, validation_alias="WEAVERGEN_MAX_ATTEMPTS")
    retry_base_seconds: float = Field(1.0, validation_alias="WEAVERGEN_RETRY_BASE_SECONDS")
    # a job whose worker stopped sending heartbeats this long ago is run again
    stalled_after_seconds: int = Field(15, validation_alias="WEAVERGEN_STALLED_AFTER_SECONDS")
    # a worker whose event loop is held this long stops its heartbeats (counts as dead)
    loop_stuck_seconds: float = Field(300, gt=0, validation_alias="WEAVERGEN_LOOP_STUCK_SECONDS")
    max_iterations: int = Field(3, ge=0, le=20, validation_alias="WEAVERGEN_MAX_ITERATIONS")
    # model groups that answer in a multi-model consensus (standard always, quick if enabled)
    consensus_groups: str = Field(
        "coder,coder-b,coder-c", validation_alias="WEAVERGEN_CONSENSUS_GROUPS"
    )
    # quick generates with a consensus too (a run may override with options.consensus)
    quick_consensus: bool = Field(False, validation_alias="WEAVERGEN_QUICK_CONSENSUS")
    validation_timeout_seconds: float = Field(60.0, validation_alias="WEAVERGEN_VALIDATION_TIMEOUT")
    # sandbox tools (a venv on Debian's python3, eslint); world-readable, made by make install
    toolchain_dir: Path = Field(
        Path("/opt/weavergen/toolchain"), validation_alias="WEAVERGEN_TOOLCHAIN_DIR"
    )
    sandbox_cpu_seconds: int = Field(20, validation_alias="WEAVERGEN_SANDBOX_CPU_SECONDS")
    sandbox_memory_mb: int = Field(1024, validation_alias="WEAVERGEN_SANDBOX_MEMORY_MB")
    # fork Python tools from long-lived fork servers (as root with cgroups), not one start each
    sandbox_fork_server: bool = Field(True, validation_alias="WEAVERGEN_SANDBOX_FORK_SERVER")
    # none, console or otlp
    otel_exporter: str = Field("none", validation_alias="WEAVERGEN_OTEL_EXPORTER")
    otel_endpoint: str | None = Field(None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    allow_scripts: bool = Field(False, validation_alias="WEAVERGEN_ALLOW_SCRIPTS")
    # script tasks run in the sandbox with these limits (wall time is three times the CPU's)
    script_cpu_seconds: int = Field(10, ge=1, validation_alias="WEAVERGEN_SCRIPT_CPU_SECONDS")
    script_memory_mb: int = Field(256, ge=32, validation_alias="WEAVERGEN_SCRIPT_MEMORY_MB")
    # your own operators: comma-separated modules that register on engine.ops.OPERATORS
    operator_modules: str = Field("", validation_alias="WEAVERGEN_OPERATOR_MODULES")
    # learning stores: unset = the PostgreSQL tables of the run database
    neo4j_uri: str | None = Field(None, validation_alias="NEO4J_URI")
    neo4j_user: str = Field("neo4j", validation_alias="NEO4J_USER")
    neo4j_password: SecretStr | None = Field(None, validation_alias="NEO4J_PASSWORD")
    influx_url: str | None = Field(None, validation_alias="INFLUX_URL")
    influx_database: str = Field("weavergen", validation_alias="INFLUX_DATABASE")
    influx_username: str | None = Field(None, validation_alias="INFLUX_USERNAME")
    influx_password: SecretStr | None = Field(None, validation_alias="INFLUX_PASSWORD")
    # decide.pattern: runs a pattern needs before learning may override the rules' choice
    learning_min_evidence: int = Field(5, validation_alias="WEAVERGEN_LEARNING_MIN_EVIDENCE")
    # false: no exploration; learned patterns win only on posterior means with enough evidence
    learning_exploration: bool = Field(True, validation_alias="WEAVERGEN_LEARNING_EXPLORATION")

    def database_dir(self) -> Path:
        """Where the embedded PostgreSQL keeps its data."""
        return self.data_dir.resolve() / "postgres"
