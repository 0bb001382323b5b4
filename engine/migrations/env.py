"""Alembic environment: runs migrations on the connection `engine.migrate` hands over."""

from alembic import context

from adapters.learning.postgres import learning_metadata
from engine.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through `engine.migrate.upgrade`, which opens the connection"
    )


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    # procrastinate owns its tables; the memory store builds one HNSW index per embedding
    # size on first use (adapters/learning/postgres_memory.py): autogenerate must not drop them
    if type_ == "index" and (name or "").startswith("learning_memories_hnsw_"):
        return False
    return not (type_ == "table" and (name or "").startswith("procrastinate"))


context.configure(
    connection=connection,
    target_metadata=[metadata, learning_metadata],
    compare_type=True,
    include_name=_ours,
)
with context.begin_transaction():
    context.run_migrations()
