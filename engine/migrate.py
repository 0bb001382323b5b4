"""Schema migrations (Alembic), applied at start-up by every process that needs the database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from adapters.database import sqlalchemy_url

MIGRATIONS = Path(__file__).parent / "migrations"
# any constant works: it only serialises concurrent upgrades from several processes
_LOCK_KEY = 0x57E4_0001


def alembic_config() -> Config:
    """An Alembic config pointing at engine/migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(url: str) -> None:
    """Bring the database schema to the newest revision (safe to call from many processes)."""
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()
